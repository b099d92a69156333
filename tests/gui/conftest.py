"""GUI test fixtures: offscreen Qt, a tiny random model + SAE loader (fast), the real bundled model loader
(integration), and a main-window factory that waits until the model is ready and closes cleanly."""

import os
import time

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

import tiny  # noqa: E402
from desktop_sae.core.sae import FeatureStats  # noqa: E402
from desktop_sae.core.sae_io import load_sae, save_sae  # noqa: E402
from desktop_sae.core.session import Session  # noqa: E402

torch.set_num_threads(1)  # the CI / dev machines are small and shared; one thread decodes fastest there


def _with_stats(sae, d_sae, max_act=2.0):
    sae.stats = FeatureStats(np.full(d_sae, max_act, np.float32), np.full(d_sae, max_act / 3, np.float32),
                             np.linspace(0.001, 0.05, d_sae).astype(np.float32))
    return sae


@pytest.fixture(scope="session")
def tiny_sae_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_sae") / "tiny-sae"
    save_sae(_with_stats(tiny.random_sae(d_in=64, d_sae=256, k=8, hook="blocks.1.hook_resid_post"), 256), folder)
    return folder


class SlowSession(Session):
    """A Session whose token loop sleeps a little before every token (to observe streaming and Stop)."""

    delay = 0.0

    def generate(self, *a, cancel=None, **kw):
        inner = cancel or (lambda: False)

        def slow_cancel():
            if self.delay:
                time.sleep(self.delay)
            return inner()

        return super().generate(*a, cancel=slow_cancel, **kw)


def make_tiny_loader(sae_dir, delay: float = 0.0):
    def loader(req, progress, cancelled=None):
        progress(0.5, "building a tiny model")
        s = SlowSession(tiny.tiny_lm(), top_k_features=16)
        s.delay = delay
        s.attach_sae(load_sae(sae_dir))
        return s

    return loader


@pytest.fixture(scope="session")
def real_sae_dir(tmp_path_factory):
    """The bundled SAE if it ships, else a random TopK SAE for SmolLM2 (576 -> 1024, k 32) with statistics."""
    from desktop_sae.core.paths import default_sae_dir

    bundled = default_sae_dir()
    if bundled is not None:
        return bundled
    folder = tmp_path_factory.mktemp("real_sae") / "random-smollm2-sae"
    sae = tiny.random_sae(d_in=576, d_sae=1024, k=32, hook="blocks.12.hook_resid_post", model_name="SmolLM2-135M-Instruct")
    save_sae(_with_stats(sae, 1024, max_act=10.0), folder)
    return folder


@pytest.fixture
def make_window(qtbot, tmp_path):
    """make_window(loader=None|callable, load=LoadRequest) -> a shown, ready MainWindow (closed at teardown)."""
    from desktop_sae.core.presets import PresetStore
    from desktop_sae.gui.main_window import MainWindow
    from desktop_sae.gui.worker import LoadRequest

    made = []

    def make(loader=None, load=LoadRequest(), timeout=120_000):
        win = MainWindow(load, loader=loader, store=PresetStore(tmp_path / "presets"))
        qtbot.addWidget(win)
        win.show()
        made.append(win)
        qtbot.waitUntil(lambda: win.ready or win.last_error is not None, timeout=timeout)
        assert win.ready, win.last_error
        return win

    yield make
    for w in made:
        w.close()
        assert not w.client.thread.isRunning()


def ask(qtbot, win, text="Hello there", timeout=120_000):
    """Type a message, press Ctrl+Enter, wait for the answer; returns the number of streamed token signals."""
    from PySide6.QtCore import Qt

    seen = []
    win.client.token.connect(lambda ev: seen.append(ev))
    win.chat.input.setPlainText(text)
    qtbot.keyClick(win.chat.input, Qt.Key_Return, Qt.ControlModifier)
    assert win.client.busy, "Ctrl+Enter did not start a generation"
    qtbot.waitUntil(lambda: not win.client.busy, timeout=timeout)
    return seen


@pytest.fixture(scope="session")
def tiny_sae_with_dictionary(tmp_path_factory, tiny_sae_dir):
    """A copy of the tiny SAE with a feature dictionary built by core.training.dictionary."""
    import shutil

    from desktop_sae.core.training.activation_store import collect
    from desktop_sae.core.training.dictionary import build_dictionary

    folder = tmp_path_factory.mktemp("dict_sae") / "tiny-sae-dict"
    shutil.copytree(tiny_sae_dir, folder, ignore=shutil.ignore_patterns("labels.user.json"))
    lm = tiny.tiny_lm()
    ctx = np.random.default_rng(0).integers(3, len(lm.tokenizer), size=(48, 16)).astype(np.int32)
    ctx[:, 0] = 1
    store = collect(lm.model, ctx, "blocks.1.hook_resid_post", folder.parent / "store", bos_id=1, batch_size=8)
    sae = load_sae(folder)
    build_dictionary(sae, store, lm.tokenizer, lm.model.get_output_embeddings().weight, folder)
    return folder
