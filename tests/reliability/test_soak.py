"""Soak: hundreds of generations through the real job runner and controller with random slider moves, preset
loads, Stops and SAE reloads. Memory must settle, no request may get stuck, no thread may be left behind.

CI runs 300 generations on the tiny model; ``DESKTOP_SAE_SOAK=N`` runs N (and ``DESKTOP_SAE_SOAK_REAL=1`` uses
the bundled model instead)."""

import gc
import os
import random
import threading
import time

import pytest

import tiny
from desktop_sae.app.controller import Controller
from desktop_sae.app.jobs import JobRunner
from desktop_sae.app.loading import LoadRequest
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.presets.store import PresetStore

N = int(os.environ.get("DESKTOP_SAE_SOAK", "300"))
REAL = os.environ.get("DESKTOP_SAE_SOAK_REAL") == "1"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="RSS is read from /proc (Linux)")
def test_soak_generations_with_random_user_actions(tmp_path, tiny_sae_dir):
    rng = random.Random(0)
    other_sae = tiny.save_tiny_sae(tmp_path / "other", d_sae=256, seed=3)
    threads_before = set(threading.enumerate())
    runner = JobRunner()
    runner.start_thread()
    loader = None if REAL else tiny.make_loader(tiny_sae_dir)
    ctl = Controller(runner, loader=loader, store=PresetStore(tmp_path / "presets"))
    ctl.model.load(LoadRequest())
    ctl.wait_until(lambda: ctl.model.ready or ctl.notices.last_error, 300, "the model")
    assert ctl.model.ready, ctl.notices.last_error
    ctl.conversation.set_sampling(SamplingConfig(temperature=0.8, seed=None, max_new_tokens=12))
    d_sae = ctl.model.info.d_sae
    ctl.steering.steer(1, 1.0)
    presets = {ctl.model.info.sae_path: ctl.presets.save("soak-0")}
    saes = [str(tiny_sae_dir), str(other_sae)]
    counts = {"generations": 0, "stops": 0, "presets": 0, "sae_reloads": 0, "slider_moves": 0}
    rss = []
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
            own = presets[path]
            assert ctl.presets.load(own), ctl.notices.last_error
            foreign = [p for k, p in presets.items() if k != ctl.model.info.sae_path]
            if foreign:  # a preset for the other SAE is refused and changes nothing
                before = ctl.steering.config
                assert not ctl.presets.load(foreign[0]) and ctl.steering.config == before
            counts["presets"] += 1
        elif action < 0.37 and not REAL:
            ctl.model.load_sae(saes[counts["sae_reloads"] % 2])
            ctl.wait_idle(60)
            assert ctl.model.ready and ctl.model.info.sae_path is not None
            counts["sae_reloads"] += 1
        if len(ctl.conversation.turns) > 6:
            ctl.conversation.clear()
        conv = ctl.conversation
        assert conv.send(f"message {i}") or conv.regenerate(), (conv.busy, conv.turns[-1:])
        if rng.random() < 0.15:
            # one poll can drain a whole short answer (a busy machine runs the worker ahead), so "finished" counts too
            ctl.wait_until(lambda c=conv: sum(map(len, c.stream.values())) >= 1 or not c.busy, 60, "a token")
            if ctl.conversation.busy:
                ctl.conversation.stop()
                counts["stops"] += 1
        ctl.wait_until(lambda: not ctl.conversation.busy, 120, f"answer {i}")  # no stuck request
        assert ctl.conversation.turns[-1].role == "assistant", ctl.conversation.turns[-1]
        counts["generations"] += 1
        if i % 25 == 0:
            gc.collect()
            rss.append(_rss_mb())
    ctl.wait_idle(60)
    runner.shutdown()
    runner.thread.join(30)
    assert not runner.thread.is_alive()
    assert set(threading.enumerate()) - threads_before == set()
    warm = rss[len(rss) // 3]  # after warm-up (allocator pools, caches)
    peak = max(rss[len(rss) // 3 :])
    growth = (peak - warm) / warm
    print(
        f"soak: {counts} in {time.perf_counter() - t0:.0f} s, RSS after warm-up {warm:.0f} MB -> max {peak:.0f} MB "
        f"({100 * growth:+.1f} %), samples {[round(r) for r in rss]}"
    )
    assert counts["generations"] == N and counts["stops"] > 0
    assert growth < 0.05, f"RSS grew {100 * growth:.1f} % after warm-up: {rss}"
