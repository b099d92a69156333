"""The token loop: KV-cache correctness against HF generate, sampling, stopping, cancellation, readouts."""

import numpy as np
import pytest
import torch

from desktop_sae.core.engine.generation import Sampler
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import Session
from tiny import random_sae, tiny_lm


@pytest.fixture(scope="module", params=["llama", "gpt2", "gpt_neox"])
def session(request):
    s = Session(tiny_lm(request.param))
    s.attach_sae(random_sae())
    return s


GREEDY = SamplingConfig(temperature=0, max_new_tokens=20, frequency_penalty=0.0)


def test_greedy_matches_transformers_generate(session):
    ids = session.prompt_ids("hello world")
    ours = session.generate(None, GREEDY, prompt_ids=ids)
    ref = session.lm.model.generate(input_ids=torch.tensor([ids]), max_new_tokens=20, do_sample=False,
                                    eos_token_id=list(session.stop_ids), pad_token_id=0)
    ref_ids = ref[0, len(ids):].tolist()
    assert list(ours.answer_ids) == ref_ids[: len(ours.answer_ids)] and len(ours.answer_ids) >= 1


def test_readouts_equal_an_independent_encode_of_the_whole_sequence(session):
    res = session.generate("hello world", GREEDY)
    ids = list(res.prompt_ids) + list(res.answer_ids)
    with torch.no_grad():
        acts = session.sae.encode(session.activations(ids)).numpy()
    assert len(res.events) == len(ids)
    for e in res.events:
        np.testing.assert_allclose(e.top_vals, acts[e.index][e.top_ids], rtol=1e-4, atol=1e-4)
        assert e.top_vals[0] == pytest.approx(acts[e.index].max(), rel=1e-4, abs=1e-4)
    assert [e.is_prompt for e in res.events].count(True) == len(res.prompt_ids)


def test_same_seed_same_tokens_other_seed_other_tokens():
    s = Session(tiny_lm())
    sc = SamplingConfig(temperature=1.5, seed=7, max_new_tokens=30, frequency_penalty=0.0)
    a, b = s.generate("hello", sc), s.generate("hello", sc)
    c = s.generate("hello", SamplingConfig(temperature=1.5, seed=8, max_new_tokens=30, frequency_penalty=0.0))
    assert a.answer_ids == b.answer_ids and a.answer_ids != c.answer_ids


def test_watched_features_are_reported(session):
    res = session.generate("hello world", GREEDY, watch=[3, 200])
    with torch.no_grad():
        acts = session.sae.encode(session.activations(list(res.prompt_ids) + list(res.answer_ids))).numpy()
    for e in res.events:
        np.testing.assert_allclose(e.watched, acts[e.index][[3, 200]], rtol=1e-4, atol=1e-4)


def test_cancellation_stops_within_one_token():
    s = Session(tiny_lm())
    seen = []
    res = s.generate("hello", SamplingConfig(temperature=1.0, max_new_tokens=200, frequency_penalty=0.0),
                     on_token=lambda e: seen.append(e) if not e.is_prompt else None, cancel=lambda: len(seen) >= 5)
    assert res.stop_reason == "cancelled"
    assert len(res.answer_ids) == 5


def test_cancel_before_start_runs_nothing():
    res = Session(tiny_lm()).generate("hello", GREEDY, cancel=lambda: True)
    assert res.stop_reason == "cancelled" and res.answer_ids == () and res.events == ()


def test_stops_at_eos():
    s = Session(tiny_lm())
    eos = s.lm.tokenizer.eos_token_id
    with torch.no_grad():
        s.lm.model.lm_head.weight[eos] += 50 * s.lm.model.lm_head.weight.mean(0)  # make EOS likely
    try:
        res = s.generate("hello", GREEDY)
    finally:
        with torch.no_grad():
            s.lm.model.lm_head.weight[eos] -= 50 * s.lm.model.lm_head.weight.mean(0)
    assert res.stop_reason == "eos" or len(res.answer_ids) == 20
    if res.stop_reason == "eos":
        assert res.answer_ids[-1] == eos and res.events[-1].is_special and res.events[-1].delta == ""


def test_streamed_deltas_add_up_to_the_text(session):
    sc = SamplingConfig(temperature=1.0, seed=3, max_new_tokens=25, frequency_penalty=0.0)
    res = session.generate("hello world", sc)
    assert "".join(e.delta for e in res.events) == res.text


def test_plain_text_fallback_without_chat_template():
    s = Session(tiny_lm(chat_template=False))
    ids = s.prompt_ids("hi there")
    text = s.lm.tokenizer.decode(ids)
    assert "User: hi there" in text and text.rstrip().endswith("Assistant:")
    assert s.generate("hi there", GREEDY).answer_ids


# --- sampler --------------------------------------------------------------------------------------
def test_top_k_one_is_greedy():
    logits = torch.randn(50, generator=torch.Generator().manual_seed(0))
    s = Sampler(SamplingConfig(temperature=1.0, top_k=1, frequency_penalty=0), 50, [])
    assert s(logits) == int(logits.argmax())


def test_top_p_keeps_only_the_nucleus():
    logits = torch.tensor([5.0, 4.9, -5.0, -5.0, -6.0])
    s = Sampler(SamplingConfig(temperature=1.0, top_p=0.5, frequency_penalty=0, seed=1), 5, [])
    assert {s(logits) for _ in range(50)} <= {0, 1}


def test_frequency_penalty_discourages_repeats():
    logits = torch.tensor([3.0, 2.5, 0.0])
    s = Sampler(SamplingConfig(temperature=0, frequency_penalty=1.0), 3, [])
    assert [s(logits) for _ in range(3)] == [0, 1, 0]


def test_repetition_penalty_covers_the_prompt():
    logits = torch.tensor([3.0, 2.5, 0.0])
    s = Sampler(SamplingConfig(temperature=0, frequency_penalty=0, repetition_penalty=2.0), 3, [0])
    assert s(logits) == 1  # 3.0 / 2 < 2.5


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(top_p=0), dict(top_p=1.5), dict(repetition_penalty=0)])
def test_bad_sampling_values(bad):
    with pytest.raises(ValueError):
        SamplingConfig(**bad).validate()
