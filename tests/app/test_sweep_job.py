"""The strength-sweep job on the tiny model, through the controller on a plain thread: partials in order, and each
point's figures are the core measures (recomputed here) combined as documented."""

from pathlib import Path

import numpy as np
import pytest

import tiny
from desktop_sae.app.controller import Controller
from desktop_sae.app.state import LoadRequest
from desktop_sae.app.sweep_tasks import SweepRequest, strength_sweep_job
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.presets.store import PresetStore
from desktop_sae.core.steer_eval import data
from desktop_sae.core.steer_eval.reading import answer_logprobs, kl_along, mean_nll
from desktop_sae.core.steer_eval.scoring import harmonic_mean
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec

RES = Path(__file__).resolve().parents[2] / "resources"


@pytest.fixture
def ctl(runner, tmp_path, tiny_sae_dir, monkeypatch):
    monkeypatch.setattr(data, "resources_dir", lambda: RES)
    c = Controller(runner, loader=tiny.make_loader(tiny_sae_dir), store=PresetStore(tmp_path / "p"))
    c.load(LoadRequest())
    c.wait_until(lambda: c.state.ready or c.state.last_error, 60, "the model")
    assert c.state.ready, c.state.last_error
    return c


def test_sweep_job_streams_reference_then_points_with_core_metrics(ctl):
    partials, done = [], []
    sampling = SamplingConfig(seed=5, max_new_tokens=6)
    req = SweepRequest("the quick brown fox", (1.0, 8.0, 64.0), ("the",), sampling,
                       spec=SteerSpec(3, 0.0, "max", "add"), features=(3,))
    ctl.run_job("sweep", strength_sweep_job(req), on_partial=lambda m: partials.append(m.payload),
                on_done=lambda m: done.append(m.result))
    ctl.wait_until(lambda: bool(done), 120, "the sweep")
    assert [p[0] for p in partials] == ["ref", "point", "point", "point"]
    assert [p[1] for p in partials[1:]] == [0, 1, 2]
    ref, points = done[0]
    assert [p.strength for p in points] == [1.0, 8.0, 64.0]
    assert ref.other_prompt == data.load_splits().selection[0]
    session = ctl.runner.session
    prefix = session.prompt_ids("the quick brown fox")
    for p in points:
        st = SteeringConfig((SteerSpec(3, p.strength, "max", "add"),))
        ids = list(session.generate("the quick brown fox", sampling, st).answer_ids)
        assert mean_nll(answer_logprobs(session, prefix, ids)) == pytest.approx(p.measured.nll, abs=1e-5)
        assert float(np.mean(kl_along(session, prefix, ids, st))) == pytest.approx(p.kl, abs=1e-6)
        assert p.combined == pytest.approx(harmonic_mean([p.concept, p.fluency, p.relevance]))
    assert points[-1].kl > points[0].kl >= 0


def test_sweep_of_the_steering_set_scales_the_multiplier_and_refuses_bad_specs(ctl):
    cfg = SteeringConfig((SteerSpec(3, 2.0, "max", "add"), SteerSpec(9, 1.0, "max", "add")))
    req = SweepRequest("hi", (0.5, 2.0), (), SamplingConfig(), steering=cfg)
    assert req.steering_at(2.0).multiplier == 2.0 and req.steering_at(2.0).features == cfg.features
    failed = []
    bad = SweepRequest("hi", (1.0,), (), SamplingConfig(max_new_tokens=2), spec=SteerSpec(9999, 1.0))
    ctl.run_job("sweep", strength_sweep_job(bad), on_failed=lambda m: failed.append(m.message))
    ctl.wait_until(lambda: bool(failed), 60, "the refusal")
    assert "9999" in failed[0]
