"""Gemma 3, Qwen3 and Llama 3.2 tiny models through the app's Session: an SAE encodes at a hook and every steering
method (add, clamp, orthogonal, cap, conditional, a vector) gives the same tokens and features on the lite engine
as on transformers; int8 weights; loading picks the lite engine; attribution refuses what it does not cover."""

import numpy as np
import pytest
import torch

from desktop_sae.core.attribution.llama_functional import read_weights
from desktop_sae.core.engine import models
from desktop_sae.core.engine.hooks import capture
from desktop_sae.core.engine.lite import row_setup
from desktop_sae.core.engine.lite.choice import load_lite_model
from desktop_sae.core.engine.lite.llama import LlamaLiteForCausalLM
from desktop_sae.core.engine.lite.tokenizer import LiteTokenizer
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import Session
from desktop_sae.core.steering.specs import NO_STEERING, SteeringConfig, SteerSpec
from desktop_sae.core.steering.vectors import SteeringVector
from desktop_sae.core.support.errors import UnsupportedArchitectureError
from test_lite_archs import NAMES, PROMPT, _hf
from tiny import random_sae, tiny_tokenizer, with_stats
from tiny_archs import build_folder, tiny_configs

GREEDY = SamplingConfig(temperature=0, frequency_penalty=0, max_new_tokens=16)
METHODS = {
    "add": SteerSpec(3, 6.0),
    "clamp": SteerSpec(3, 8.0, method="clamp"),
    "orthogonal": SteerSpec(5, 1.0, method="orth"),
    "cap": SteerSpec(5, 0.0, method="cap"),
    "conditional": SteerSpec(7, 6.0, when=(3, 0.05)),
    "vector": SteeringVector.from_array("v", np.random.default_rng(0).normal(size=64) * 0.5).spec(-1, 6.0),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    tok = tiny_tokenizer()
    root = tmp_path_factory.mktemp("archs-session")
    return {n: build_folder(root / n, cfg, seed=4, tokenizer=tok) for n, cfg in tiny_configs(len(tok)).items()}


def _loaded(model, folder):
    return models.LoadedModel(model=model, tokenizer=LiteTokenizer.from_folder(folder), name="tiny", source="folder",
                              location=str(folder), device=torch.device("cpu"), dtype=torch.float32)


@pytest.mark.parametrize("hook", ["blocks.1.hook_resid_post", "blocks.2.hook_attn_out", "blocks.1.hook_mlp_in"])
@pytest.mark.parametrize("name", NAMES)
def test_sae_and_every_steering_method_match_transformers(folders, name, hook):
    folder = folders[name]
    sessions = [Session(_loaded(m, folder), with_stats(random_sae(hook=hook, arch="jumprelu", seed=2)))
                for m in (load_lite_model(folder, torch.device("cpu"), torch.float32), _hf(folder))]
    lite, hf = sessions
    ids = PROMPT[:12]
    # the SAE reads the hook's activations: the same features on both engines
    xa, xb = lite.activations(ids), hf.activations(ids)
    torch.testing.assert_close(xa, xb, rtol=0, atol=1e-5)
    fa, fb = lite.sae.encode(xa), hf.sae.encode(xb)
    assert (fa > 0).sum() > 0 and torch.equal(fa > 0, fb > 0)
    torch.testing.assert_close(fa, fb, rtol=0, atol=1e-4)
    plain = lite.generate("", GREEDY, NO_STEERING, prompt_ids=ids)
    for method, spec in METHODS.items():
        steer = SteeringConfig((spec,))
        a, b = (s.generate("", GREEDY, steer, prompt_ids=ids, watch=(3, 5, 7)) for s in sessions)
        assert a.answer_ids == b.answer_ids and len(a.answer_ids) == GREEDY.max_new_tokens, (method, a.answer_ids)
        for ea, eb in zip(a.events, b.events):
            assert np.array_equal(ea.top_ids, eb.top_ids), method
            np.testing.assert_allclose(ea.watched, eb.watched, rtol=0, atol=1e-3, err_msg=method)
            assert abs(ea.norm - eb.norm) < 1e-3
        if method == "add":
            assert a.answer_ids != plain.answer_ids  # steering took effect


@pytest.mark.parametrize("name", NAMES)
def test_int8_weights(folders, name):
    lm = models.load_model(str(folders[name]), dtype="int8")
    m = lm.model
    assert isinstance(m, LlamaLiteForCausalLM) and lm.extra["weights"] == "int8" and lm.dtype == torch.bfloat16
    for layer in m.model.layers:
        for mod in (layer.self_attn, layer.self_attn.o_proj, layer.mlp, layer.mlp.down_proj):
            assert mod.row.kind == "int8" and mod.row.data.dtype == torch.int8
    assert m.lm_head.row.kind != "int8"
    # decoding (int8 kernel, one row at a time, the sliding window's keys) == a prompt forward on the same weights
    ids = PROMPT[:20]
    with torch.inference_mode():
        cache = m(input_ids=torch.tensor([ids[:10]])).past_key_values
        steps = [m(input_ids=torch.tensor([[t]]), past_key_values=cache).logits[0, -1] for t in ids[10:]]
        full = m(input_ids=torch.tensor([ids])).logits[0, 10:]
    # bfloat16 rounding only: a few units in the last place of logits up to ~4 (the ulp there is 1/64)
    assert (torch.stack(steps).float() - full.float()).abs().max() < 0.02 * full.float().abs().max()
    s = Session(lm, random_sae(hook="blocks.1.hook_resid_post"))
    out = s.generate("", GREEDY, SteeringConfig((SteerSpec(3, 4.0),)), prompt_ids=ids)
    assert len(out.answer_ids) == GREEDY.max_new_tokens


@pytest.mark.parametrize("name", NAMES)
def test_load_model_uses_the_lite_engine_unless_told_otherwise(folders, name, monkeypatch):
    lm = models.load_model(str(folders[name]), dtype="float32")
    assert isinstance(lm.model, LlamaLiteForCausalLM) and lm.describe().architecture == tiny_configs(300)[name][
        "model_type"]
    monkeypatch.setenv("DESKTOP_SAE_ENGINE", "transformers")
    hf = models.load_model(str(folders[name]), dtype="float32")
    assert not isinstance(hf.model, LlamaLiteForCausalLM) and hf.family == lm.family
    ids = torch.tensor([PROMPT])
    with torch.inference_mode():
        torch.testing.assert_close(capture(lm.model, "blocks.2.hook_mlp_out", input_ids=ids),
                                   capture(hf.model, "blocks.2.hook_mlp_out", input_ids=ids), rtol=0, atol=1e-5)


def test_a_model_the_engine_refuses_loads_through_transformers(folders, tmp_path):
    import json

    cfg = json.loads((folders["Qwen3-0.6B"] / "config.json").read_text())
    f = build_folder(tmp_path / "qwen3-sliding", {**cfg, "use_sliding_window": True, "sliding_window": 4}, seed=1,
                     tokenizer=tiny_tokenizer())
    lm = models.load_model(str(f), dtype="float32")
    assert not isinstance(lm.model, LlamaLiteForCausalLM) and type(lm.model).__name__ == "Qwen3ForCausalLM"


@pytest.mark.parametrize("name,why", [("gemma-3-270m-it", "Llama-family models only"), ("Qwen3-0.6B", "qwen3")])
def test_attribution_refuses_the_architectures_it_does_not_restate(folders, name, why):
    for model in (load_lite_model(folders[name], torch.device("cpu"), torch.float32), _hf(folders[name])):
        with pytest.raises(UnsupportedArchitectureError, match=why):
            read_weights(model)


def test_row_kernels_cover_every_architecture(folders):
    m = load_lite_model(folders["gemma-3-1b-it"], torch.device("cpu"), torch.bfloat16)
    weights = row_setup.row_weights(m)
    assert len(weights) == 4 * len(m.model.layers) + 1
    times = row_setup.measure_kernels(m, rounds=1)
    assert times and all(t > 0 for t in times.values())
