"""The strength sweep as a run on the tiny model, on a plain thread: partials in order, and each point's figures
are the core measures (recomputed here) combined as documented."""

from pathlib import Path

import numpy as np
import pytest

import tiny
from desktop_sae.app.controller import Controller
from desktop_sae.app.loading import LoadRequest
from desktop_sae.app.runs import RunChange, RunStatus
from desktop_sae.app.sweep_run import SweepRequest, SweepRun
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
    c.model.load(LoadRequest())
    c.wait_until(lambda: c.model.ready or c.notices.last_error, 60, "the model")
    assert c.model.ready, c.notices.last_error
    return c


def test_sweep_job_streams_reference_then_points_with_core_metrics(ctl):
    sampling = SamplingConfig(seed=5, max_new_tokens=6)
    req = SweepRequest("the quick brown fox", (1.0, 8.0, 64.0), ("the",), sampling,
                       spec=SteerSpec(3, 0.0, "max", "add"), features=(3,))
    run, seen = SweepRun(ctl.jobs), []
    run.changed.connect(lambda what: what == RunChange.PARTIAL and seen.append((run.ref, dict(run.points))))
    run.start(req)
    ctl.wait_until(lambda: run.status == RunStatus.DONE, 120, "the sweep")
    assert seen[0][0] is not None and seen[0][1] == {}  # the default answer's measures come first
    assert [sorted(p) for _r, p in seen[1:]] == [[0], [0, 1], [0, 1, 2]]  # then one point per strength, in order
    ref, points = run.result
    assert run.ref is ref and tuple(run.sorted_points()) == points
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
    bad = SweepRequest("hi", (1.0,), (), SamplingConfig(max_new_tokens=2), spec=SteerSpec(9999, 1.0))
    run = SweepRun(ctl.jobs)
    run.start(bad)
    ctl.wait_until(lambda: not run.running, 60, "the refusal")
    assert run.status == RunStatus.FAILED and "9999" in (run.error or "") and run.points == {}


def test_a_sweep_in_batches_of_any_size_measures_the_same_points(ctl):
    """The answers are made and measured ``batch`` at a time (1: one at a time, as before batching): the same points
    either way."""
    sampling = SamplingConfig(seed=2, max_new_tokens=6)
    results = {}
    for batch in (1, 2, 16):
        req = SweepRequest("the bridge", (0.5, 4.0, 32.0), ("bridge",), sampling, spec=SteerSpec(5, 0.0, "max", "add"),
                           features=(5,), batch=batch)
        run = SweepRun(ctl.jobs)
        run.start(req)
        ctl.wait_until(lambda r=run: r.status == RunStatus.DONE, 120, "the sweep")
        ref, points = run.result
        results[batch] = (ref.default.text, [p.text for p in points], [(p.measured.nll, p.kl) for p in points])
    for batch in (2, 16):  # the same answers; their measures read in one forward per chunk: float32 rounding apart
        assert results[batch][:2] == results[1][:2]
        assert np.allclose(results[batch][2], results[1][2], rtol=1e-4, atol=1e-6)


def test_the_chat_sweep_adds_answers_in_strength_order_when_rows_end_out_of_order(ctl):
    """A row that meets a stop token leaves the batch first; its answer still joins the chat in its place."""
    conv, session = ctl.conversation, ctl.runner.session
    conv.set_sampling(SamplingConfig(seed=4, temperature=0.0, max_new_tokens=8))
    strengths = (0.0, 1.0, 40.0)
    steer = SteerSpec(7, 0.0, "max", "add", True, "seven")
    alone = [session.generate([{"role": "user", "content": "the bridge"}], conv.sampling,
                              SteeringConfig((SteerSpec(7, s, "max"),))).answer_ids for s in strengths]
    # the strongest row's first token that no other answer holds becomes a stop token: that row ends first
    k = next(k for k, t in enumerate(alone[2]) if t not in alone[0] + alone[1] + alone[2][:k])
    assert k < 7
    stops = session.stop_ids
    session.stop_ids = (alone[2][k],)
    try:
        assert conv.sweep("the bridge", (steer,), strengths)
        ctl.wait_until(lambda: not conv.busy, 60, "the sweep")
    finally:
        session.stop_ids = stops
    turns = conv.turns
    assert [t.role for t in turns] == ["user", "assistant"] * 3
    assert [t.content.split("[seven at ")[1] for t in turns[0::2]] == ["0×]", "1×]", "40×]"]
    tok = session.lm.tokenizer
    want = [tok.decode(list(alone[0]), skip_special_tokens=True), tok.decode(list(alone[1]), skip_special_tokens=True),
            tok.decode(list(alone[2][: k + 1]), skip_special_tokens=True)]
    assert [t.content for t in turns[1::2]] == [w.rstrip("\ufffd") for w in want]


def test_with_a_system_prompt_fluency_is_read_after_the_prompt_alone_and_kl_after_both(ctl):
    sampling = SamplingConfig(seed=3, max_new_tokens=5)
    req = SweepRequest("the bridge", (2.0, 16.0), (), sampling, spec=SteerSpec(5, 0.0, "max", "add"),
                       system="Answer briefly.")
    run = SweepRun(ctl.jobs)
    run.start(req)
    ctl.wait_until(lambda: run.status == RunStatus.DONE, 120, "the sweep")
    session = ctl.runner.session
    bare, with_system = session.prompt_ids("the bridge"), session.prompt_ids("the bridge", "Answer briefly.")
    assert len(with_system) > len(bare)
    for p in run.result[1]:
        st = SteeringConfig((SteerSpec(5, p.strength, "max"),))
        ids = list(session.generate("the bridge", sampling, st, system="Answer briefly.").answer_ids)
        assert mean_nll(answer_logprobs(session, bare, ids)) == pytest.approx(p.measured.nll, abs=1e-5)
        assert float(np.mean(kl_along(session, with_system, ids, st))) == pytest.approx(p.kl, abs=1e-6)
