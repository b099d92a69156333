"""Soak: many generations through the real job runner and controller with random slider moves, preset loads, Stops
and SAE reloads. Memory must settle, no request may get stuck, no thread and no finished answer may be left behind.

Two sizes (``DESKTOP_SAE_SOAK_REAL`` picks the model; the profile picks the default):
- CI profile: the tiny random model, 300 generations of at most 12 tokens. It exercises the app's paths quickly;
  its memory figures say little about the real model.
- heavy profile (``tests/reliability/run_heavy.sh``): the bundled model and SAE, 120 generations of up to 200 tokens
  (everyday prompts; the bundled SAE is reloaded instead of swapping two tiny ones).
``DESKTOP_SAE_SOAK=N`` sets the number of generations. With ``DESKTOP_SAE_RELIABILITY_RESULTS=DIR`` the run is
written to ``DIR/soak_real_model.json`` or ``DIR/soak_tiny_model.json`` (before the assertions, so a failing run is
recorded too).
"""

import gc
import os
import random
import threading
import time

import pytest
import reliability_util as ru
from resident_memory import rss_mb

import tiny
from desktop_sae.app.controller import Controller
from desktop_sae.app.jobs import JobRunner
from desktop_sae.app.loading import LoadRequest
from desktop_sae.core.engine.generation import GenerationResult
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.presets.store import PresetStore

REAL = os.environ.get("DESKTOP_SAE_SOAK_REAL", "1" if ru.HEAVY else "0") == "1"
N = int(os.environ.get("DESKTOP_SAE_SOAK", "120" if REAL else "300"))
MAX_TOKENS = 200 if REAL else 12
GROWTH_LIMIT = 0.05  # resident memory after warm-up (the first third) may grow less than this
PROMPTS = (
    "What is the capital of France?", "Write a short poem about autumn.", "How do I boil an egg?",
    "Explain photosynthesis to a child.", "Give me three tips for a job interview.", "What is a prime number?",
    "Write a story about a lighthouse keeper.", "How does a bicycle work?", "Suggest a name for a black cat.",
    "Why is the sky blue?", "Summarise the plot of Cinderella.", "What should I pack for a weekend hike?",
)


def _live_results() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is GenerationResult)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="RSS is read from /proc (Linux)")
@pytest.mark.timeout(2400 if REAL else 600)  # the bundled-model soak takes about 10 min on an idle 2-core machine
def test_soak_generations_with_random_user_actions(tmp_path, tiny_sae_dir):
    load_before = ru.load_average()
    rng = random.Random(0)
    threads_before = set(threading.enumerate())
    runner = JobRunner()
    runner.start_thread()
    loader = None if REAL else tiny.make_loader(tiny_sae_dir)
    ctl = Controller(runner, loader=loader, store=PresetStore(tmp_path / "presets"))
    ctl.model.load(LoadRequest())
    ctl.wait_until(lambda: ctl.model.ready or ctl.notices.last_error, 600, "the model")
    assert ctl.model.ready, ctl.notices.last_error
    ctl.conversation.set_sampling(SamplingConfig(temperature=0.8, seed=None, max_new_tokens=MAX_TOKENS))
    d_sae = ctl.model.info.d_sae
    ctl.steering.steer(1, 1.0)
    presets = {ctl.model.info.sae_path: ctl.presets.save("soak-0")}
    other = None if REAL else tiny.save_tiny_sae(tmp_path / "other", d_sae=256, seed=3)
    saes = [ctl.model.info.sae_path] if REAL else [str(tiny_sae_dir), str(other)]
    counts = {"generations": 0, "stops": 0, "presets": 0, "sae_reloads": 0, "slider_moves": 0, "tokens": 0}
    every = max(1, N // 12)  # RSS samples: about 13 over the run
    rss: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    for i in range(N):
        action = rng.random()
        if action < 0.3:
            f = rng.randrange(d_sae)
            ctl.steering.steer(f, rng.uniform(-5, 5), rng.choice(["add", "clamp", "orth"]))
            if len(ctl.steering.config.features) > 4:
                ctl.steering.unsteer(ctl.steering.config.features[0].feature)
            counts["slider_moves"] += 1
        elif action < 0.35:
            path = ctl.model.info.sae_path
            if path not in presets:
                presets[path] = ctl.presets.save(f"soak-{len(presets)}")
            assert ctl.presets.load(presets[path]), ctl.notices.last_error
            foreign = [p for k, p in presets.items() if k != ctl.model.info.sae_path]
            if foreign:  # a preset for the other SAE is refused and changes nothing
                before = ctl.steering.config
                assert not ctl.presets.load(foreign[0]) and ctl.steering.config == before
            counts["presets"] += 1
        if i and i % max(1, N // 4) == 0:  # three SAE reloads, at fixed points
            ctl.model.load_sae(saes[counts["sae_reloads"] % len(saes)])
            ctl.wait_idle(120)
            assert ctl.model.ready and ctl.model.info.sae_path is not None, ctl.notices.last_error
            counts["sae_reloads"] += 1
        if len(ctl.conversation.turns) > 6:
            ctl.conversation.clear()
        conv = ctl.conversation
        assert conv.send(rng.choice(PROMPTS) if REAL else f"message {i}") or conv.regenerate(), (conv.busy,
                                                                                               conv.turns[-1:])
        if rng.random() < 0.15:
            # one poll can drain a whole short answer (a busy machine runs the worker ahead), so "finished" counts too
            ctl.wait_until(lambda c=conv: sum(map(len, c.stream.values())) >= 1 or not c.busy, 60, "a token")
            if ctl.conversation.busy:
                ctl.conversation.stop()
                counts["stops"] += 1
        ctl.wait_until(lambda: not ctl.conversation.busy, 300, f"answer {i}")  # no stuck request
        last = ctl.conversation.turns[-1]
        assert last.role == "assistant", last
        counts["tokens"] += len(last.events.get("main", ()))
        counts["generations"] += 1
        if i % every == 0 or i == N - 1:
            rss.append((i + 1, round(rss_mb(), 1)))
    wall = time.perf_counter() - t0
    ctl.conversation.clear()
    ctl.wait_idle(60)
    results_left = _live_results()  # the conversation was cleared: no finished answer may stay referenced
    runner.shutdown()
    runner.thread.join(30)
    mb = [m for _, m in rss]
    warm = mb[len(mb) // 3]  # after warm-up (allocator pools, caches)
    peak = max(mb[len(mb) // 3:])
    growth, growth_end = (peak - warm) / warm, (mb[-1] - warm) / warm
    summary = {
        "model": "bundled" if REAL else "tiny", "generations": counts["generations"], "max_new_tokens": MAX_TOKENS,
        "answer_tokens_mean": round(counts["tokens"] / max(1, counts["generations"]), 1), "stops": counts["stops"],
        "sae_reloads": counts["sae_reloads"], "rss_after_warmup_mb": warm, "rss_end_mb": mb[-1],
        "rss_peak_after_warmup_mb": peak, "growth_peak_pct": round(100 * growth, 2),
        "growth_end_pct": round(100 * growth_end, 2), "wall_min": round(wall / 60, 1),
        "finished_answers_left_referenced": results_left,
        "threads_left": len(set(threading.enumerate()) - threads_before),
    }
    print(f"soak: {counts} in {wall:.0f} s, RSS samples (generation, MB) {rss}; {summary}")
    if ru.RESULTS_DIR:
        ru.write(f"soak_{'real' if REAL else 'tiny'}_model.json",
                 {"summary": summary, "counts": counts, "rss_mb_after_generation": rss,
                  "settings": {"temperature": 0.8, "growth_limit": GROWTH_LIMIT, "rss_every": every,
                               "prompts": list(PROMPTS) if REAL else "message <i>"}}, load_before)
    assert not runner.thread.is_alive()
    assert summary["threads_left"] == 0, set(threading.enumerate()) - threads_before
    assert counts["generations"] == N and counts["stops"] > 0 and counts["sae_reloads"] > 0
    assert results_left == 0, f"{results_left} finished answers still referenced after clearing the conversation"
    assert growth < GROWTH_LIMIT, f"RSS grew {100 * growth:.1f} % after warm-up: {rss}"
