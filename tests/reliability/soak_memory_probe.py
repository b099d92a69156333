"""Where does resident memory grow in the bundled-model soak? A probe, not a test (pytest does not collect it).

Answers everyday prompts on the bundled model through the real job runner and controller, one feature steered,
clearing the conversation every third answer; after each clear it prints resident memory (after ``gc.collect()`` and
``malloc_trim(0)``, as the soak reads it), the live torch tensors and their storage, the live numpy arrays, and the
Python object types whose count changed since the last clear. Growing RSS with flat counts points at native memory
(allocator, library caches) rather than objects the app keeps.

Usage: QT_QPA_PLATFORM=offscreen python tests/reliability/soak_memory_probe.py [answers=24] [max_tokens=200]
(try ``ONEDNN_PRIMITIVE_CACHE_CAPACITY=0`` or ``MALLOC_ARENA_MAX=1`` in the environment to compare).
"""

from __future__ import annotations

import collections
import gc
import sys
import tempfile
import warnings

import numpy as np
import torch
from resident_memory import rss_mb

from desktop_sae.app.controller import Controller
from desktop_sae.app.jobs import JobRunner
from desktop_sae.app.loading import LoadRequest
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.presets.store import PresetStore

PROMPTS = ("What is a prime number?", "Write a short poem about autumn.", "How do I boil an egg?")


def live() -> tuple[int, float, int, float, collections.Counter[str]]:
    """(tensors, their storage MB, arrays, their MB, count per type) of the live objects gc tracks."""
    gc.collect()
    tensors = arrays = 0
    tensor_mb = array_mb = 0.0
    types: collections.Counter[str] = collections.Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # isinstance on deprecated torch attributes warns
        for o in gc.get_objects():
            types[type(o).__name__] += 1
            if isinstance(o, torch.Tensor):
                tensors += 1
                try:
                    tensor_mb += o.untyped_storage().nbytes() / 2**20
                except RuntimeError:
                    pass
            elif isinstance(o, np.ndarray):
                arrays += 1
                array_mb += o.nbytes / 2**20
    return tensors, tensor_mb, arrays, array_mb, types


def main(answers: int = 24, max_tokens: int = 200) -> None:
    runner = JobRunner()
    runner.start_thread()
    ctl = Controller(runner, store=PresetStore(tempfile.mkdtemp()))
    ctl.model.load(LoadRequest())
    ctl.wait_until(lambda: ctl.model.ready or ctl.notices.last_error, 600, "the model")
    ctl.conversation.set_sampling(SamplingConfig(temperature=0.8, seed=None, max_new_tokens=max_tokens))
    ctl.steering.steer(1, 1.0)
    before: collections.Counter[str] | None = None
    for i in range(answers):
        ctl.conversation.send(PROMPTS[i % len(PROMPTS)])
        ctl.wait_until(lambda: not ctl.conversation.busy, 300, f"answer {i}")
        if i % 3 == 2:
            ctl.conversation.clear()
            ctl.wait_idle(60)
            tensors, tensor_mb, arrays, array_mb, types = live()
            changed = {k: v - before[k] for k, v in types.items() if v != before[k]} if before else {}
            before = types
            top = sorted(changed.items(), key=lambda kv: -abs(kv[1]))[:6]
            print(f"answer {i + 1:3d}: RSS {rss_mb():7.1f} MB; {tensors} tensors {tensor_mb:.1f} MB; "
                  f"{arrays} arrays {array_mb:.1f} MB; changed {top}", flush=True)
    runner.shutdown()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
