"""The engine on the real bundled SmolLM2-135M-Instruct."""

import re

import pytest
import torch

from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import Session
from desktop_sae.core.sae.autoencoder import SAE
from desktop_sae.core.sae.sae_config import SAEConfig
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec

pytestmark = pytest.mark.integration
GREEDY = SamplingConfig(temperature=0, max_new_tokens=40, frequency_penalty=0.0)


@pytest.fixture(scope="module")
def session(bundled_lm):
    return Session(bundled_lm)


def test_bundled_model_chats_coherently_in_english(session):
    res = session.generate("What is the capital of France?", GREEDY)
    assert "Paris" in res.text
    res = session.generate("Name three animals that live on a farm.", SamplingConfig(max_new_tokens=60, seed=1))
    words = re.findall(r"[A-Za-z']+", res.text)
    assert len(words) >= 8
    common = {"the", "a", "and", "are", "is", "of", "to", "cow", "cows", "pig", "pigs", "chicken", "chickens",
              "sheep", "goat", "goats", "horse", "horses", "duck", "ducks", "farm", "animals", "that", "on", "live"}
    assert sum(w.lower() in common for w in words) >= 3, res.text


def unembedding_sae(lm, token_id, layer=26):
    """An SAE whose feature 0 decodes exactly along a token's unembedding direction."""
    d = lm.d_model
    sae = SAE(SAEConfig(d, 16, "standard", hook_name=f"blocks.{layer}.hook_resid_post", model_name=lm.name))
    with torch.no_grad():
        u = lm.model.lm_head.weight[token_id].float()
        sae.W_dec[0] = u / u.norm()
        sae.W_enc[:, 0] = u / u.norm()
    return sae


def test_large_additive_steer_along_a_token_unembedding_makes_it_appear(bundled_lm):
    tok = bundled_lm.tokenizer
    target = tok.encode(" bridge", add_special_tokens=False)[0]
    s = Session(bundled_lm)
    s.attach_sae(unembedding_sae(bundled_lm, target))
    sc = SamplingConfig(temperature=0, max_new_tokens=20, frequency_penalty=0.0)
    plain = s.generate("Tell me about your favourite food.", sc)
    steered = s.generate("Tell me about your favourite food.", sc, SteeringConfig((SteerSpec(0, 100.0),)))
    assert plain.answer_ids.count(target) == 0
    assert steered.answer_ids.count(target) >= 3, steered.text
    assert "bridge" in steered.text.lower()


def test_strength_zero_identity_on_the_real_model(bundled_lm):
    s = Session(bundled_lm)
    s.attach_sae(unembedding_sae(bundled_lm, 100, layer=12))
    sc = SamplingConfig(temperature=0.8, seed=5, max_new_tokens=20)
    a = s.generate("Write a haiku about rain.", sc)
    b = s.generate("Write a haiku about rain.", sc, SteeringConfig((SteerSpec(0, 0.0, method="add"),)))
    assert a.answer_ids == b.answer_ids


def test_cancellation_within_one_token_on_the_real_model(session):
    n = []
    res = session.generate("Tell me a long story.", SamplingConfig(max_new_tokens=100),
                           on_token=lambda e: n.append(1) if not e.is_prompt else None, cancel=lambda: len(n) >= 3)
    assert res.stop_reason == "cancelled" and len(res.answer_ids) == 3


def test_eos_ends_the_answer(session):
    res = session.generate("Reply with the single word: yes", SamplingConfig(temperature=0, max_new_tokens=40))
    assert res.stop_reason == "eos" and res.answer_ids[-1] in session.stop_ids
