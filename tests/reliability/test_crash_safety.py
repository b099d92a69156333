"""Crash safety of everything the app saves: a child process saves numbered versions of a preset (PresetStore.save),
user feature labels (FeatureDictionary.save_labels: the same atomic_write_text the feature panel uses), a training
checkpoint (TopKTrainer.save_checkpoint) and a trained SAE (sae_io.save_sae) in a loop and is SIGKILLed.

- random kills: at a random moment after its first save completes (≥ 20 per writer, 100 under the heavy profile);
- every crash point: the child kills itself just before the k-th file-system state change (replace, rename,
  unlink, fsync, rmdir) of its first save into an empty folder, and of a save over an earlier version, k = 1, 2, …

After each kill the project's own loader must read one whole version, the last completed one or the one being
written (never a mix, never a damaged file), or, for a first save, nothing at all; the next writer then saves
on top of whatever the killed one left behind, and a last save at the end must succeed and read back."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

import crash_writers as cw
import numpy as np
import pytest
import reliability_util as ru
import torch
from safetensors.torch import load_file

from desktop_sae.core.features.dictionary import FeatureDictionary
from desktop_sae.core.presets.store import PresetStore
from desktop_sae.core.sae.formats import load_sae
from desktop_sae.core.support.errors import DesktopSAEError
from desktop_sae.core.training.trainer import TopKTrainer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL and a fork server (POSIX)")

KINDS = ["preset", "labels", "checkpoint", "sae"]
MAX_DELAY_S = 0.05
TIMEOUT_S = 60


@pytest.fixture(scope="module")
def ctx():
    """Children fork from a server that has imported torch and the writers, but never ran torch ops (fork-safe).
    The server gets the import path through PYTHONPATH (Python 3.11's forkserver ignores the parent's sys.path)."""
    import multiprocessing.forkserver

    import desktop_sae

    here = Path(__file__).resolve().parent
    path = [str(here), str(here.parent), str(Path(desktop_sae.__file__).resolve().parents[1])]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", os.pathsep.join(path + [os.environ.get("PYTHONPATH", "")]))
        c = mp.get_context("forkserver")
        c.set_forkserver_preload(["crash_writers"])
        multiprocessing.forkserver.ensure_running()
    return c


def _child(ctx, kind: str, folder: Path, base: int, delay: float | None = None, die_at: int = 0, die_in: int = 2):
    """Run one writer; kill it after ``delay`` s (or let it kill itself). Returns (exit code, last completed)."""
    done, ready = ctx.Value("q", 0, lock=False), ctx.Event()
    p = ctx.Process(target=cw.run, args=(kind, str(folder), base, done, ready, die_at, die_in), daemon=True)
    p.start()
    try:
        if delay is not None:
            assert ready.wait(TIMEOUT_S), f"the {kind} writer never completed a first save"
            time.sleep(delay)
            os.kill(p.pid, signal.SIGKILL)
        p.join(TIMEOUT_S)
        assert p.exitcode is not None, f"the {kind} writer hung"
    finally:
        if p.exitcode is None:
            p.kill()
            p.join()
    if delay is not None or die_at and p.exitcode != 0:
        assert p.exitcode == -signal.SIGKILL, f"the {kind} writer failed before the kill (exit code {p.exitcode})"
    return p.exitcode, done.value


# --- reading back what survived: the version number, after checking the whole content ---------------------
def _read(kind: str, folder: Path, base: int):
    """The version found in ``folder`` (None if the writer never completed anything), checked whole."""
    if kind == "preset":
        store = PresetStore(root=folder, builtin_dir=folder / "no-builtins")
        entries = store.entries()
        if not entries:
            return None
        assert [e.path.name for e in entries] == ["crash test.json"], entries  # no litter listed as a preset
        p = store.read(entries[0].path)
        v = int(p.description.split()[1])
        assert p == cw.preset_version(v)
        assert all(r.exists() for r in store.recent())
        return v
    if kind == "labels":
        if not (folder / "labels.user.json").exists():
            return None
        labels = FeatureDictionary.load(folder).labels
        v = int(labels[0].split()[0][1:])
        assert labels == [cw.label_version(v, f) for f in range(cw.N_LABELS)], "labels of two versions mixed"
        return v
    if kind == "checkpoint":
        if not any(folder.glob("checkpoint.*")):
            return None
        tr, meta = TopKTrainer.load_checkpoint(folder)
        v = meta["version"]
        t = load_file(str(folder / "checkpoint.safetensors"))
        assert tr.step_n == v - base and int(t["adam0.step"][0]) == tr.step_n, (
            f"checkpoint.json says step {tr.step_n} (version {v}), its tensors were saved at step "
            f"{int(t['adam0.step'][0])}")
        return v
    try:
        sae = load_sae(folder)
    except DesktopSAEError as e:
        if "no SAE in" in str(e):
            return None
        raise
    v = sae.cfg.metadata["version"]
    want = cw.sae_version(v)
    assert (sae.cfg.d_sae, sae.cfg.architecture) == (want.cfg.d_sae, want.cfg.architecture)
    for name in want.tensor_names():
        assert torch.equal(getattr(sae, name), getattr(want, name)), f"{name} of another version"
    if want.stats is None:
        assert sae.stats is None, "statistics of an earlier SAE were loaded with this one"
    else:
        np.testing.assert_array_equal(sae.stats.max_activation, want.stats.max_activation)
    return v


def _setup(kind: str, folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if kind == "labels":
        cw.make_dictionary(folder)


def _litter(folder: Path) -> int:
    return sum(1 for f in folder.rglob(".*") if f.is_file())


@pytest.mark.parametrize("kind", KINDS)
def test_every_crash_point(ctx, kind, tmp_path):
    """Kill before each state change of a first save (nothing or all of it) and of an overwrite (old or new)."""
    points = 0
    for die_in in (1, 2):
        for k in range(1, 100):
            folder = tmp_path / f"{die_in}-{k}"
            _setup(kind, folder)
            base = 1000 * (100 * die_in + k)
            code, done = _child(ctx, kind, folder, base, die_at=k, die_in=die_in)
            if code == 0:
                break  # the save had fewer than k state changes: all crash points seen
            found = _read(kind, folder, base)
            allowed = {None, base + 1} if die_in == 1 else {base + 1, base + 2}
            assert found in allowed, f"killed before state change {k} of save {die_in}: found version {found}"
            assert done == (0 if die_in == 1 else base + 1)
            # whatever was left behind, the next save works and reads back
            cw._writer(kind, folder, base + 500)(base + 500 + 1)
            assert _read(kind, folder, base + 500) == base + 501
            points += 1
            ru.tally(f"crash points: {kind}", "killed at a state change")
    assert points >= 2, f"only {points} crash points found in a {kind} save"


@pytest.mark.parametrize("kind", KINDS)
def test_random_sigkills(ctx, kind, tmp_path):
    folder = tmp_path / kind
    _setup(kind, folder)
    rng = random.Random(f"crash-{kind}")
    for trial in range(ru.CRASH_TRIALS):
        base = 1000 * (trial + 1)
        _, done = _child(ctx, kind, folder, base, delay=rng.uniform(0, MAX_DELAY_S))
        found = _read(kind, folder, base)
        assert found in (done, done + 1), f"trial {trial}: last completed version {done}, found {found}"
        ru.tally(f"random SIGKILL: {kind}", "intact after kill")
    litter = _litter(folder)
    base = 1000 * (ru.CRASH_TRIALS + 1)
    cw._writer(kind, folder, base)(base + 1)  # a last save on top of all the litter
    assert _read(kind, folder, base) == base + 1
    ru.FIGURES["temporary_files_left"][kind] = litter
    ru.NOTES.append(f"{kind} writer: {litter} temporary files left behind by {ru.CRASH_TRIALS} kills (ignored by "
                    "readers and later saves)")


def test_saving_an_sae_without_statistics_removes_the_old_ones(tmp_path):
    """The folder describes the SAE saved last: statistics of an earlier SAE of the same width are not kept."""
    from desktop_sae.core.sae.formats import save_sae

    save_sae(cw.sae_version(1), tmp_path)  # with statistics
    assert load_sae(tmp_path).stats is not None
    (tmp_path / "sparsity.safetensors").write_bytes((tmp_path / "feature_stats.safetensors").read_bytes())
    save_sae(cw.sae_version(3), tmp_path)  # same width, no statistics
    assert load_sae(tmp_path).stats is None
    assert not (tmp_path / "feature_stats.safetensors").exists() and not (tmp_path / "sparsity.safetensors").exists()
