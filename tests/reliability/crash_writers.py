"""Child-process side of the crash-safety tests: writers that save numbered versions of a file in a loop until they
are killed, and the builders that say what version ``i`` holds (the parent uses them to check what survived).

``run`` saves versions base+1, base+2, … and publishes the last completed one in ``done``; ``ready`` is set after
the first. With ``die_at = k > 0`` the process SIGKILLs itself just before the k-th file-system state change
(replace, rename, unlink, fsync, rmdir) of save number ``die_in``; if that save has fewer, it exits with 0."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import torch
import torch._dynamo

from desktop_sae.core.presets.file_format import Preset
from desktop_sae.core.presets.store import PresetStore
from desktop_sae.core.sae.formats import save_sae
from desktop_sae.core.sae.sae_config import FeatureStats
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.training.dictionary_builder import ARRAYS, META
from desktop_sae.core.training.trainer import TopKTrainer, TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for `tiny`
from tiny import random_sae

N_LABELS = 48
STATE_CHANGES = ("replace", "rename", "unlink", "remove", "fsync", "rmdir")


# --- what version i holds ---------------------------------------------------------------------------------
def preset_version(i: int) -> Preset:
    return Preset(name="crash test", steering=SteeringConfig((SteerSpec(1, float(i)),)),
                  description=f"version {i} " + "x" * (37 * (i % 40)))


def sae_version(i: int):
    """Alternating widths and architectures (a mix of two versions cannot load as either); stats on 2 of 3."""
    sae = random_sae(d_in=8, d_sae=16 if i % 2 else 24, arch="topk" if i % 2 else "standard", k=4, seed=i)
    if i % 3:
        d = sae.cfg.d_sae
        sae.stats = FeatureStats(np.full(d, float(i), np.float32), None, np.full(d, 0.5, np.float32))
    return sae


def label_version(i: int, f: int) -> str:
    return f"v{i} feature {f}" + "!" * (i % 7)


def make_dictionary(folder: Path) -> None:
    """A minimal feature dictionary (what FeatureDictionary.load reads) for the label writer."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({"max_activation": np.ones(N_LABELS, np.float32)}, str(folder / ARRAYS))
    (folder / META).write_text(json.dumps({"labels": [f"auto {f}" for f in range(N_LABELS)], "vocab": {}}))


class _Trainer:
    """A tiny TopK trainer whose step counter after save i is i (its Adam step count must agree on reload)."""

    def __init__(self, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(256, 8, generator=g)
        self.tr = TopKTrainer(8, TrainConfig(d_sae=16, k=2, batch_size=32, dead_tokens=64, seed=seed))
        self.tr.init_from_sample(self.x)

    def save(self, folder: Path, i: int) -> None:
        self.tr.step(self.x[(i % 8) * 32: (i % 8) * 32 + 32])
        self.tr.save_checkpoint(folder, version=i)


# --- the child -------------------------------------------------------------------------------------------
def _writer(kind: str, folder: Path, base: int):
    if kind == "preset":
        store = PresetStore(root=folder, builtin_dir=folder / "no-builtins")
        return lambda i: store.save(preset_version(i))
    if kind == "sae":
        return lambda i: save_sae(sae_version(i), folder, extra_metadata={"version": i})
    if kind == "labels":  # the one label writer the catalog and the dictionary share
        from desktop_sae.core.features.user_labels import USER_LABELS, write_labels

        return lambda i: write_labels(folder / USER_LABELS, {f: label_version(i, f) for f in range(N_LABELS)})
    if kind == "checkpoint":
        tr = _Trainer(base)
        return lambda i: tr.save(folder, i)
    raise ValueError(kind)


def _die_at(k: int, armed):
    """Patch os so that the k-th state change (once ``armed()``) kills this process first."""
    count = [0]

    def wrap(fn):
        def inner(*a, **kw):
            if armed():
                count[0] += 1
                if count[0] == k:
                    os.kill(os.getpid(), signal.SIGKILL)
            return fn(*a, **kw)
        return inner

    for name in STATE_CHANGES:
        setattr(os, name, wrap(getattr(os, name)))


def run(kind: str, folder: str, base: int, done, ready, die_at: int = 0, die_in: int = 2) -> None:
    folder = Path(folder)
    torch.set_num_threads(1)
    save = _writer(kind, folder, base)
    current = [0]
    if die_at:
        _die_at(die_at, lambda: current[0] == die_in)
    i = 0
    while True:
        i += 1
        current[0] = i
        save(base + i)
        done.value = base + i
        if i == 1:
            ready.set()
        if die_at and i >= die_in:
            os._exit(0)  # the chosen save had fewer than die_at state changes: enumeration complete
