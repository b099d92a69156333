"""Batched answers equal one-at-a-time answers (greedy, tiny model, prompts of different lengths, with steering)."""

import pytest
import torch

from desktop_sae.core.engine.batch_generation import generate_batch
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import Session
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from tiny import random_sae, tiny_lm, with_stats

PROMPTS = ["hi", "tell me about the golden bridge over the bay", "a b c d"]


@pytest.fixture(scope="module")
def session():
    torch.manual_seed(0)
    lm = tiny_lm("llama")
    return Session(lm, with_stats(random_sae(d_sae=64, model_name=lm.name)))


@pytest.mark.parametrize("steering", [SteeringConfig(), SteeringConfig((SteerSpec(5, 8.0, "max"),)),
                                      SteeringConfig((SteerSpec(5, 4.0, "max"), SteerSpec(9, 2.0, "max", "clamp")))])
def test_batched_greedy_answers_equal_single_ones(session, steering):
    sampling = SamplingConfig(temperature=0.0, max_new_tokens=8)
    ids = [session.prompt_ids(p) for p in PROMPTS]
    batch = generate_batch(session, ids, [sampling] * len(ids), steering)
    for p, got in zip(PROMPTS, batch):
        want = session.generate(p, sampling, steering)
        assert got.answer_ids == want.answer_ids and got.text == want.text and got.stop_reason == want.stop_reason


def test_per_row_seeds_lengths_and_cancel(session):
    ids = [session.prompt_ids(p) for p in PROMPTS]
    samplings = [SamplingConfig(seed=s, max_new_tokens=n) for s, n in ((1, 3), (2, 6), (3, 0))]
    out = generate_batch(session, ids, samplings)
    assert [len(a.answer_ids) <= n for a, n in zip(out, (3, 6, 0))] == [True] * 3 and out[2].answer_ids == ()
    for p, a, s in zip(PROMPTS, out, samplings):  # sampled with each row's own seed, like the app
        assert a.answer_ids == session.generate(p, s).answer_ids
    calls = iter([False, False, True])  # checked before the prompt and before each token, as generate_tokens does
    cut = generate_batch(session, ids[:2], [SamplingConfig(max_new_tokens=6)] * 2, cancel=lambda: next(calls, True))
    assert all(a.stop_reason == "cancelled" and len(a.answer_ids) == 1 for a in cut)
    with pytest.raises(ValueError, match="one sampling"):
        generate_batch(session, ids, samplings[:1])
