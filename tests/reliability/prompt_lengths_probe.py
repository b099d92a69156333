"""Does resident memory grow with every new prompt length? A probe, not a test (pytest does not collect it).

The engine alone (no app): the bundled model and SAE, one feature steered, answers of 2 tokens to prompts of random
lengths 2-299 (a chat's prompt is the whole conversation, so nearly every answer has a new length). It prints RSS
(after ``gc.collect()`` and ``malloc_trim(0)``, as the soak reads it) every 12 prompts and the growth from the end of
the first third to the peak, as tests/reliability/test_soak.py computes it. oneDNN keeps a primitive per matmul row
count; core/support/row_blocks.py bounds the row counts (before it: +16 % over 108 prompts, 2.6 MB per prompt).

Usage: python tests/reliability/prompt_lengths_probe.py [prompts=108]
(``ONEDNN_VERBOSE=profile_create`` in the environment lists the primitives it creates).
"""

from __future__ import annotations

import random
import sys
import time

from resident_memory import rss_mb

from desktop_sae.core.assets.opening import open_session
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec


def main(prompts: int = 108) -> None:
    session = open_session()
    sampling = SamplingConfig(temperature=0.8, seed=None, max_new_tokens=2)
    steering = SteeringConfig((SteerSpec(1, 1.0, "max"),))
    rng = random.Random(0)
    t0, mb = time.perf_counter(), []
    for i in range(prompts):
        ids = [rng.randrange(100, 40000) for _ in range(rng.randrange(2, 300))]
        session.generate("", sampling, steering, prompt_ids=ids)
        if i % 12 == 11:
            mb.append(rss_mb())
            print(f"prompt {i + 1:4d}: RSS {mb[-1]:7.1f} MB  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if len(mb) >= 3:
        warm, peak = mb[len(mb) // 3], max(mb[len(mb) // 3 :])
        print(f"after warm-up {warm:.1f} MB, peak {peak:.1f} MB: growth {100 * (peak - warm) / warm:.2f} %")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
