"""Each generated token carries the model's top-5 next tokens (softmax at temperature 1, before penalties)."""

import pytest
import torch

from desktop_sae.core.engine.hooks import hooks
from desktop_sae.core.engine.sae_tap import SAETap
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import Session
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from tiny import random_sae, tiny_lm


@pytest.fixture(scope="module")
def session():
    s = Session(tiny_lm())
    s.attach_sae(random_sae())
    return s


def manual_probs(session, ids, steering=None):
    """softmax(logits) at every position of one full forward (no cache), steered like generation steers."""
    model = session.lm.model
    taps = {}
    if steering is not None:
        tap = SAETap(session.sae, session.plan(steering))
        tap.mask = torch.tensor([[0.0 if i in session.special_ids else 1.0 for i in ids]])
        taps = {session.hook_name: tap}
    with torch.no_grad(), hooks(model, taps):
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    return logits[:, : len(session.lm.tokenizer)].float().softmax(-1)


@pytest.mark.parametrize("steer", [None, SteeringConfig((SteerSpec(11, 30.0),))])
def test_alternatives_equal_a_manual_softmax_top5(session, steer):
    # sampling with penalties and top-p: the alternatives ignore them (temperature 1, raw logits)
    sc = SamplingConfig(temperature=0.8, top_p=0.9, frequency_penalty=1.0, repetition_penalty=1.3, seed=3,
                        max_new_tokens=12)
    res = session.generate("hello world", sc, steer or SteeringConfig())
    ids = list(res.prompt_ids) + list(res.answer_ids)
    probs = manual_probs(session, ids, steer)
    tok = session.lm.tokenizer
    answer = [e for e in res.events if not e.is_prompt]
    assert len(answer) == len(res.answer_ids) >= 5
    for e in answer:
        p = probs[e.index - 1]  # the distribution that chose token e.index
        vals, top = p.topk(5)
        assert [t for t, _ in e.alternatives] == [tok.decode([int(i)], skip_special_tokens=False) for i in top]
        assert [q for _, q in e.alternatives] == pytest.approx(vals.tolist(), abs=1e-5)
        assert e.prob == pytest.approx(float(p[e.token_id]), abs=1e-5)
    assert all(e.alternatives == () and e.prob is None for e in res.events if e.is_prompt)


def test_greedy_picks_the_first_alternative_and_zero_turns_them_off(session):
    res = session.generate("hello world", SamplingConfig(temperature=0, frequency_penalty=0.0, max_new_tokens=8))
    for e in res.events[len(res.prompt_ids):]:
        assert e.prob == pytest.approx(e.alternatives[0][1]) and e.text == e.alternatives[0][0]
    from desktop_sae.core.engine.generation import generate_tokens

    lm = session.lm
    off = generate_tokens(lm.model, lm.tokenizer, list(res.prompt_ids), SamplingConfig(temperature=0,
                          frequency_penalty=0.0, max_new_tokens=8), alternatives=0)
    assert off.answer_ids == res.answer_ids and all(e.alternatives == () for e in off.events)


def test_side_by_side_runs_each_carry_their_own(session):
    sc = SamplingConfig(temperature=0, frequency_penalty=0.0, max_new_tokens=8)
    steered, default = session.compare("hello world", sc, SteeringConfig((SteerSpec(11, 30.0),)))
    first = len(steered.prompt_ids)
    s0, d0 = steered.events[first], default.events[first]
    assert s0.alternatives and d0.alternatives and s0.alternatives != d0.alternatives


@pytest.mark.parametrize("m", [7, 640, 49152, 49152 + 13, 100_003])
def test_the_blocked_top_n_equals_topk(m):
    from desktop_sae.core.engine.sampler import top_n

    for seed in range(20):
        x = torch.randn(m, generator=torch.Generator().manual_seed(seed))
        vals, ids = top_n(x, 5)
        ref = x.topk(5)
        assert torch.equal(vals, ref.values) and torch.equal(ids, ref.indices)
