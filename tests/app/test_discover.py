"""The finders' runs on the tiny model: the contrastive finder (hits, the mean-difference vector, cancel), the
default strengths it steers with, and features on a selection of an answer."""

import time

import numpy as np
import pytest

from desktop_sae.app import discover
from desktop_sae.app.contrast_run import ContrastRun, contrast_job
from desktop_sae.app.runs import RunChange, RunStatus
from desktop_sae.app.selection_run import SelectionRun, span_request
from desktop_sae.core.engine.run_names import Run
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.features.contrast import SET_SIZE, ContrastResult
from desktop_sae.core.features.readout import features_on_span
from desktop_sae.core.steering.vectors import load_vector, save_vector

POS = ["the bridge over the river", "a bridge of steel", "they crossed the bridge at night"]
NEG = ["the cat sat on the mat", "a quiet morning", "they ate some soup at night"]


def test_split_texts_by_line_or_by_blank_line():
    assert discover.split_texts("\n\n a\nb \nc\n\n") == ["a", "b", "c"]  # blank lines only at the edges: per line
    assert discover.split_texts("def f():\n    return 1\n\n\nx = 2\r\n  \r\ny") == ["def f():\n    return 1", "x = 2",
                                                                                 "y"]
    assert discover.split_texts("  \n") == []
    with pytest.raises(discover.DiscoverError, match="at least one positive"):
        contrast_job(["  "], ["x"])


def test_texts_from_a_file_and_refusals(tmp_path, monkeypatch):
    f = tmp_path / "pos.txt"
    f.write_bytes("a bridge\nthe bridge \xff\n".encode("latin-1"))
    assert discover.split_texts(discover.read_texts_file(f)) == ["a bridge", "the bridge \ufffd"]
    with pytest.raises(discover.DiscoverError, match="cannot read missing.txt"):
        discover.read_texts_file(tmp_path / "missing.txt")
    monkeypatch.setattr(discover, "MAX_FILE_BYTES", 8)
    with pytest.raises(discover.DiscoverError, match="must be under"):
        discover.read_texts_file(f)
    with pytest.raises(discover.DiscoverError, match="at most"):
        discover.check_texts(["x"] * (discover.MAX_TEXTS + 1), ["y"])


def test_the_contrast_job_returns_ranked_hits_and_a_vector(ctl):
    run, progress = ContrastRun(ctl.jobs), []
    run.changed.connect(lambda what: what == RunChange.PROGRESS and progress.append(run.fraction))
    run.start(POS, NEG, top=10)
    ctl.wait_idle(30)
    res = run.result
    assert isinstance(res, ContrastResult) and res.n_pos == 3 and res.n_neg == 3
    assert 0 < len(res.hits) <= 10
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    assert all(h.pos_mean > h.neg_mean for h in res.hits)
    assert len(res.vector.values) == ctl.model.info.d_in and res.vector.norm > 0
    fr = progress
    assert fr == sorted(fr) and fr[-1] == pytest.approx(1.0) and len(fr) == 6
    # the defaults it steers with: 3x max for a feature with statistics, the vector at the same length
    info = ctl.model.info
    f = res.hits[0].feature
    assert discover.default_strength(info, f) == (3.0, "max")
    s = discover.vector_strength(info, res)
    want = 3.0 * float(info.max_activation[f]) * float(info.dec_norms[f])
    assert s * res.vector.norm == pytest.approx(want, rel=1e-2)
    spec = ctl.steering.steer_vector(res.vector, s)
    assert spec.feature == -1 and ctl.steering.config.features[0].vector == res.vector.values
    # the weighted set: the first hits, weights = score / the lead's, nominal shift = half a typical residual
    k = len(res.set_features)
    assert 1 <= k <= SET_SIZE and res.set_features == tuple(h.feature for h in res.hits[:k])
    assert res.set_weights == pytest.approx([h.score / res.hits[0].score for h in res.hits[:k]], abs=1e-4)
    w_dec = ctl.runner.session.sae.W_dec.detach().float().numpy()
    shift = sum(res.set_strength * w * float(info.max_activation[g]) * w_dec[g]
                for g, w in zip(res.set_features, res.set_weights))
    assert np.linalg.norm(shift) == pytest.approx(0.5 * info.typical_norm, rel=0.02)  # strength has 2 digits
    rows = discover.steer_set(ctl.steering, res)
    assert [r.feature for r in ctl.steering.config.features] == [-1, *res.set_features]
    assert [r.strength for r in rows] == pytest.approx([res.set_strength * w for w in res.set_weights], abs=1e-4)


def test_the_contrast_job_honours_cancel_between_texts(ctl):
    s = ctl.runner.session
    slow = s.activations
    s.activations = lambda ids: (time.sleep(0.02), slow(ids))[1]  # make each text take a while
    run, seen = ContrastRun(ctl.jobs), []

    def on_change(what):
        if what == RunChange.PROGRESS:
            seen.append(run.fraction)
            if len(seen) == 1:
                run.cancel()

    run.changed.connect(on_change)
    t0 = time.monotonic()
    run.start(POS * 40, NEG * 40)
    ctl.wait_idle(30)
    assert run.status == RunStatus.CANCELLED and run.result is None
    assert len(seen) < 20 and time.monotonic() - t0 < 3.0  # 240 texts would take ~5 s


def test_a_saved_vector_round_trips_in_the_vectors_folder(ctl):
    run = ContrastRun(ctl.jobs)
    run.start(POS, NEG)
    ctl.wait_idle(30)
    vec = run.result.vector
    path = discover.default_vector_path(vec)
    assert path.parent.name == "vectors" and path.suffix == ".safetensors"
    save_vector(vec, path)
    assert discover.default_vector_path(vec) != path  # the next name is free
    back = load_vector(path)
    assert np.allclose(back.values, vec.values, atol=1e-4) and back.hook == vec.hook


def test_features_on_a_selection_of_an_answer_match_a_direct_computation(ctl):
    ctl.conversation.set_sampling(SamplingConfig(seed=3, max_new_tokens=12))
    ctl.conversation.set_system("be brief")
    for msg in ("hello there", "and again"):
        assert ctl.conversation.send(msg)
        ctl.wait_until(lambda: not ctl.conversation.busy, 30)
    turn = ctl.conversation.turns[3]
    evs = turn.events[Run.MAIN]
    sel = [ev.index for ev in evs[2:6]]
    conv = ctl.conversation
    req = span_request(conv.turns, conv.system, Run.MAIN, sel)
    assert req.text == "".join(ev.text for ev in evs[2:6])
    run = SelectionRun(ctl.jobs)
    run.start_span(req)
    ctl.wait_idle(30)
    got = run.result
    s = ctl.runner.session
    ids = s.prompt_ids(ctl.conversation.messages()[:3], "be brief") + [ev.token_id for ev in evs]
    assert ids[sel[0]:sel[-1] + 1] == [ev.token_id for ev in evs[2:6]]
    want = features_on_span(s, ids, sel[0], sel[-1] + 1, top=20)
    assert got == want and got.features
    # the chat's own per-token readout (all k active features: top_k_features >= k here) gives the same maxima
    for h in got.features:
        seen = [float(ev.top_vals[ev.top_ids == h.feature].max(initial=0)) for ev in evs[2:6]]
        assert max(seen) == pytest.approx(h.max, abs=1e-3)
    with pytest.raises(discover.DiscoverError, match="more than one message"):
        span_request(conv.turns, conv.system, Run.MAIN, [conv.turns[1].events[Run.MAIN][0].index, sel[0]])
    with pytest.raises(discover.DiscoverError, match="not in a finished answer"):
        span_request(conv.turns, conv.system, Run.MAIN, [0])
    conv.set_system("something else entirely")
    run.start_span(span_request(conv.turns, conv.system, Run.MAIN, sel))
    ctl.wait_idle(30)
    assert run.status == RunStatus.FAILED and "changed since" in run.error


@pytest.mark.integration
def test_the_built_in_bridge_example_finds_the_bundled_bridge_features(bundled_lm):
    from desktop_sae.app.contrast_examples import EXAMPLES
    from desktop_sae.core.engine.session import Session
    from desktop_sae.core.features.contrast import contrast
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.support.paths import default_sae_dir

    s = Session(bundled_lm)
    s.attach_sae(load_sae(default_sae_dir()))
    res = contrast(s, *EXAMPLES["Bridges vs other structures"], top=5)
    top = [h.feature for h in res.hits[:3]]
    # the bundled SAE's 'Bridge' and 'Bridge / bridge / bridges' features
    assert 6852 in top and 2107 in top, [(h.feature, h.label) for h in res.hits]
