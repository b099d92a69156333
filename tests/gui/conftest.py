"""GUI test fixtures: offscreen Qt, the tiny random model + SAE loader (fast), the real bundled SAE (integration),
a main-window factory that waits until the model is ready and closes cleanly, and a guard that fails any test
leaving a QThread running or a QTimer active (as napari's test suite does)."""

import os
import time
import weakref

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch
from PySide6.QtCore import QThread, QTimer

import tiny
from desktop_sae.core.sae.formats import load_sae, save_sae

torch.set_num_threads(1)  # the CI / dev machines are small and shared; one thread decodes fastest there


@pytest.fixture(autouse=True)
def no_dangling_threads_or_timers(monkeypatch, request):
    """Fail a test that leaves a QThread running or a repeating QTimer active once its windows are closed."""
    threads, timers = [], []
    t_start, q_start = QThread.start, QTimer.start

    def thread_start(self, *a):
        threads.append(weakref.ref(self))
        return t_start(self, *a)

    def timer_start(self, *a):
        timers.append(weakref.ref(self))
        return q_start(self, *a)

    monkeypatch.setattr(QThread, "start", thread_start)
    monkeypatch.setattr(QTimer, "start", timer_start)
    yield

    def alive(ref, test):
        obj = ref()
        try:
            return obj is not None and test(obj)
        except RuntimeError:  # its C++ object is gone: stopped
            return False

    end = time.monotonic() + 2.0
    while time.monotonic() < end and any(alive(r, lambda t: t.isRunning()) for r in threads):
        time.sleep(0.02)
    running = [r().objectName() or repr(r()) for r in threads if alive(r, lambda t: t.isRunning())]
    active = [r() for r in timers if alive(r, lambda t: t.isActive() and not t.isSingleShot())]
    assert not running, f"QThreads still running after the test: {running}"
    assert not active, f"repeating QTimers still active after the test: {[(t.parent(), t.interval()) for t in active]}"


def make_tiny_loader(sae_dir, delay: float = 0.0):
    return tiny.make_loader(sae_dir, delay)


@pytest.fixture(scope="session")
def real_sae_dir(tmp_path_factory):
    """The bundled SAE if it ships, else a random TopK SAE for SmolLM2 (576 -> 1024, k 32) with statistics."""
    from desktop_sae.core.support.paths import default_sae_dir

    bundled = default_sae_dir()
    if bundled is not None:
        return bundled
    folder = tmp_path_factory.mktemp("real_sae") / "random-smollm2-sae"
    sae = tiny.random_sae(
        d_in=576, d_sae=1024, k=32, hook="blocks.12.hook_resid_post", model_name="SmolLM2-135M-Instruct"
    )
    save_sae(tiny.with_stats(sae, max_act=10.0), folder)
    return folder


@pytest.fixture
def make_window(qtbot, tmp_path):
    """make_window(loader=None|callable, load=LoadRequest) -> a shown, ready MainWindow (closed at teardown)."""
    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.core.presets.store import PresetStore
    from desktop_sae.gui.app import build_window

    made = []

    def make(loader=None, load=LoadRequest(), timeout=120_000):
        win = build_window(load, loader=loader, store=PresetStore(tmp_path / "presets"), welcome=False)
        qtbot.addWidget(win)
        made.append(win)
        model, notices = win.controller.model, win.controller.notices
        qtbot.waitUntil(lambda: model.ready or notices.last_error is not None, timeout=timeout)
        assert model.ready, notices.last_error
        return win

    yield make
    for w in made:
        w.close()
        assert not w.worker.thread.isRunning()


def set_sampling(win, **kw):
    """Sampling for a test: temperature 0.5, seed 7, 20 tokens unless ``kw`` says otherwise."""
    from dataclasses import replace

    from desktop_sae.core.engine.sampling import SamplingConfig

    win.controller.conversation.set_sampling(replace(SamplingConfig(temperature=0.5, seed=7, max_new_tokens=20), **kw))


def ask(qtbot, win, text="Hello there", timeout=120_000):
    """Type a message, press Ctrl+Enter (as a user does), wait for the answer; returns the token events seen."""
    from PySide6.QtCore import Qt

    seen = []
    win.controller.conversation.token.connect(seen.append)
    win.chat.input.setPlainText(text)
    win.activateWindow()
    win.chat.input.setFocus()  # where the user's cursor is when typing
    qtbot.keyClick(win.chat.input, Qt.Key_Return, Qt.ControlModifier)
    assert win.controller.conversation.busy, "Ctrl+Enter did not start a generation"
    qtbot.waitUntil(lambda: not win.controller.conversation.busy, timeout=timeout)
    win.controller.conversation.token.disconnect(seen.append)
    return seen


@pytest.fixture(scope="session")
def tiny_sae_with_dictionary(tmp_path_factory, tiny_sae_dir):
    """A copy of the tiny SAE with a feature dictionary built by core.training.dictionary_builder."""
    import shutil

    from desktop_sae.core.training.activation_store import collect
    from desktop_sae.core.training.dictionary_builder import build_dictionary

    folder = tmp_path_factory.mktemp("dict_sae") / "tiny-sae-dict"
    shutil.copytree(tiny_sae_dir, folder, ignore=shutil.ignore_patterns("labels.user.json"))
    lm = tiny.tiny_lm()
    ctx = np.random.default_rng(0).integers(3, len(lm.tokenizer), size=(48, 16)).astype(np.int32)
    ctx[:, 0] = 1
    store = collect(lm.model, ctx, "blocks.1.hook_resid_post", folder.parent / "store", bos_id=1, batch_size=8)
    sae = load_sae(folder)
    build_dictionary(sae, store, lm.tokenizer, lm.model.get_output_embeddings().weight, folder)
    return folder
