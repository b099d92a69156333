"""The decoding thread-count governor (core/engine/step_threads.py), driven with made-up step times, and in a real
generation."""

import torch

from desktop_sae.core.engine.generation import generate_tokens
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.step_threads import GOVERNOR, StepThreads
from tiny import tiny_lm


def _drive(g: StepThreads, cost, steps: int) -> list[int]:
    """Run ``steps`` steps where a step on n threads takes cost(step, n) seconds; the thread count of each step."""
    used = []
    for i in range(steps):
        used.append(g.current)
        g.record(cost(i, g.current))
    return used


def _governor(full=2, **kw):
    calls = []
    g = StepThreads(set_threads=calls.append, **kw)
    g._reset(full)
    return g, calls


def test_an_idle_machine_never_switches():
    """No switching without a slowdown: answers stay bit-identical run to run. Jitter and millisecond steps
    (a tiny model) never count as a slowdown."""
    g, calls = _governor()
    assert set(_drive(g, lambda i, n: 0.020 * (1 + (i % 7 == 0)), 300)) == {2} and not calls
    g, calls = _governor()
    assert set(_drive(g, lambda i, n: 0.001 * (1 + 9 * (i % 2)), 300)) == {2} and not calls


def test_moves_to_one_thread_when_another_process_holds_a_core_and_back_when_it_leaves():
    g, calls = _governor(every=16)
    busy = range(30, 120)  # another process runs from step 30 to 119: 2-thread steps take 40x longer
    used = _drive(g, lambda i, n: (0.8 if n == 2 else 0.030) if i in busy else (0.020 if n == 2 else 0.028), 200)
    assert used[:30] == [2] * 30
    slow_steps = [i for i in busy if used[i] == 2]
    assert len(slow_steps) <= 3 + 3 * 3  # detected within a window, then only a few spaced-out probes
    assert used[119] == 1 and used[-1] == 2  # back to 2 threads once the core is free again
    g, _ = _governor(every=16)  # a slowdown one thread does not cure: back to all threads, probing less often
    used = _drive(g, lambda i, n: 0.020 if i < 30 else (0.1 if n == 2 else 0.14), 300)
    assert used[-1] == 2 and used[30:].count(1) <= 3 * 5
    assert calls and calls[-1] == 2


def test_active_restores_the_callers_thread_count_and_skips_gpu_and_single_threads():
    before = torch.get_num_threads()
    g = StepThreads()
    try:
        torch.set_num_threads(2)
        with g.active(cpu=True) as gov:
            assert gov is g
            g._switch(1)
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        try:
            with g.active(cpu=True):
                g._switch(1)
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        assert torch.get_num_threads() == 2
        with g.active(cpu=False) as gov:
            assert gov is None
        torch.set_num_threads(1)
        with g.active(cpu=True) as gov:
            assert gov is None
    finally:
        torch.set_num_threads(before)


def test_a_generation_runs_its_steps_under_the_governor():
    lm = tiny_lm()
    before = torch.get_num_threads()
    seen = []
    real = GOVERNOR.record
    try:
        torch.set_num_threads(2)
        GOVERNOR.record = lambda s: (seen.append((s, torch.get_num_threads())), real(s))[1]
        res = generate_tokens(lm.model, lm.tokenizer, [1, 2, 3], SamplingConfig(temperature=0, max_new_tokens=12))
        assert len(res.answer_ids) == 12
        assert len(seen) == 11 and all(s > 0 for s, _ in seen)  # every single-token step but the last is timed
        assert {n for _, n in seen} <= {1, 2}
        assert torch.get_num_threads() == 2
    finally:
        GOVERNOR.record = real
        torch.set_num_threads(before)
