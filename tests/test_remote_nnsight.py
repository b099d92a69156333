"""The nnsight backend against the local Session on the tiny Llama: the same greedy (and seeded sampled) tokens and
the same per-token features, for no steering and for add, clamp, orthogonal, cap and conditional rows. The runs go
through nnsight's local simulation of a remote request (serialised, read back with this app's modules hidden, run),
so what passes here is what a request to NDIF carries."""

from __future__ import annotations

import numpy as np
import pytest

import tiny
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import Session
from desktop_sae.core.remote.ndif_link import wrap_local
from desktop_sae.core.remote.nnsight_session import NnsightSession
from desktop_sae.core.remote.target import Target, Transport
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.support.errors import SAEMismatchError

GREEDY = SamplingConfig(temperature=0.0, max_new_tokens=8)  # the app's frequency penalty (1.0) stays on
PROMPT = "the quick brown fox"
STEERING = {
    "none": SteeringConfig(),
    "add": SteeringConfig((SteerSpec(3, 8.0),)),
    "clamp": SteeringConfig((SteerSpec(5, 4.0, method="clamp"),)),
    "orth": SteeringConfig((SteerSpec(7, 0.0, method="orth"),)),
    "cap": SteeringConfig((SteerSpec(9, 0.05, method="cap"),)),
    "conditional": SteeringConfig((SteerSpec(11, 6.0, when=(12, 0.01)), SteerSpec(13, 3.0, method="clamp"))),
}


def pair(arch: str = "topk", hook: str = "blocks.1.hook_resid_post", transport: Transport = Transport.SIMULATED,
         sae: bool = True) -> tuple[Session, NnsightSession]:
    lm = tiny.tiny_lm()
    s = tiny.with_stats(tiny.random_sae(arch=arch, hook=hook)) if sae else None
    remote = NnsightSession(wrap_local(lm.model, lm.tokenizer, Target("tiny", transport)), s)
    return Session(lm, s), remote


def assert_same(a, b, tol: float = 1e-4) -> None:
    assert b.answer_ids == a.answer_ids
    assert b.text == a.text and b.stop_reason == a.stop_reason and b.prompt_ids == a.prompt_ids
    assert len(b.events) == len(a.events)
    for x, y in zip(a.events, b.events):
        assert (y.index, y.token_id, y.text, y.delta, y.is_prompt, y.is_special) == \
            (x.index, x.token_id, x.text, x.delta, x.is_prompt, x.is_special)
        if x.top_ids is not None:
            np.testing.assert_allclose(y.top_vals, x.top_vals, atol=tol)
            big = x.top_vals > 10 * tol  # near-zero activations may swap places; the firing features may not
            assert (y.top_ids[big] == x.top_ids[big]).all()
        assert y.norm == pytest.approx(x.norm, rel=1e-5)
        assert [t for t, _ in y.alternatives] == [t for t, _ in x.alternatives]
        np.testing.assert_allclose([p for _, p in y.alternatives], [p for _, p in x.alternatives], rtol=1e-4)


@pytest.mark.parametrize("name", list(STEERING))
def test_greedy_tokens_and_features_match_the_local_session(name):
    local, remote = pair()
    steer = STEERING[name]
    a = local.generate(PROMPT, GREEDY, steer, watch=(3, 5))
    b = remote.generate(PROMPT, GREEDY, steer, watch=(3, 5))
    assert_same(a, b)
    if name != "none":  # the steering changed something, so the comparison means something
        plain = local.generate(PROMPT, GREEDY, watch=(3, 5))
        changed = plain.answer_ids != a.answer_ids or any(
            abs(p.norm - q.norm) > 1e-4 for p, q in zip(plain.events, a.events))
        assert changed


@pytest.mark.parametrize("arch", ["standard", "jumprelu", "gated"])
def test_clamp_reads_the_sliced_features_of_every_architecture(arch):
    local, remote = pair(arch)
    steer = SteeringConfig((SteerSpec(5, 4.0, method="clamp"), SteerSpec(20, 2.0, when=(5, 0.01))))
    assert_same(local.generate(PROMPT, GREEDY, steer), remote.generate(PROMPT, GREEDY, steer))


def test_sampled_tokens_match_with_the_same_seed():
    local, remote = pair()
    sampling = SamplingConfig(temperature=0.9, top_p=0.95, seed=7, max_new_tokens=10)
    steer = STEERING["add"]
    assert_same(local.generate(PROMPT, sampling, steer), remote.generate(PROMPT, sampling, steer))


def test_a_hook_on_the_layer_input_is_steered_too():
    local, remote = pair(hook="blocks.2.hook_resid_pre", transport=Transport.IN_PROCESS)
    assert_same(local.generate(PROMPT, GREEDY, STEERING["add"]), remote.generate(PROMPT, GREEDY, STEERING["add"]))


def test_a_stop_token_ends_both_answers_with_its_readout():
    local, remote = pair(transport=Transport.IN_PROCESS)
    first = local.generate(PROMPT, GREEDY)
    stop = first.answer_ids[3]
    local.stop_ids = remote.stop_ids = (stop,)
    a, b = local.generate(PROMPT, GREEDY), remote.generate(PROMPT, GREEDY)
    assert a.stop_reason == "eos" and a.answer_ids[-1] == stop and len(a.answer_ids) <= 4
    assert_same(a, b)


def test_without_an_sae_the_tokens_still_match():
    local, remote = pair(sae=False, transport=Transport.IN_PROCESS)
    a, b = local.generate(PROMPT, GREEDY), remote.generate(PROMPT, GREEDY)
    assert b.answer_ids == a.answer_ids and [e.token_id for e in b.events] == [e.token_id for e in a.events]
    assert all(e.top_ids is None for e in b.events)


def test_text_readout_and_typical_norm_come_from_the_nnsight_model():
    local, remote = pair(transport=Transport.IN_PROCESS)
    _, ids_a, acts_a = local.encode_text(PROMPT)
    _, ids_b, acts_b = remote.encode_text(PROMPT)
    assert ids_a == ids_b
    np.testing.assert_allclose(acts_b, acts_a, atol=1e-5)
    assert remote.typical_norm == pytest.approx(local.typical_norm, rel=1e-5)


def test_zero_new_tokens_gives_the_prompt_readout_only():
    local, remote = pair(transport=Transport.IN_PROCESS)
    zero = SamplingConfig(temperature=0.0, max_new_tokens=0)
    assert_same(local.generate(PROMPT, zero), remote.generate(PROMPT, zero))


def test_a_transcoder_is_refused_with_the_reason():
    lm = tiny.tiny_lm()
    remote = NnsightSession(wrap_local(lm.model, lm.tokenizer, Target("tiny", Transport.SIMULATED)))
    tc = tiny.random_sae(arch="transcoder", hook="blocks.1.hook_mlp_in")
    with pytest.raises(SAEMismatchError, match="transcoder .* cannot run through nnsight"):
        remote.attach_sae(tc)
    assert remote.sae is None  # nothing attached half-way


def test_rows_through_nnsight_are_answered_one_at_a_time_like_the_local_batch():
    """``generate_rows`` on a model run through nnsight answers each row by its own run (no batch): the answers
    equal the local session's batch of the same rows."""
    from desktop_sae.core.engine.batch_rows import BatchRow

    local, remote = pair()
    ids = tuple(local.prompt_ids(PROMPT))
    rows = [BatchRow(ids, GREEDY, STEERING[n]) for n in ("none", "add", "clamp")]
    runs = []
    real = remote.generate
    remote.generate = lambda *a, **kw: runs.append(1) or real(*a, **kw)
    ended = []
    got = remote.generate_rows(rows, chunk=16, on_answer=lambda i, a: ended.append(i))
    assert len(runs) == 3 and ended == [0, 1, 2]
    assert [a.answer_ids for a in got] == [a.answer_ids for a in local.generate_rows(rows)]
