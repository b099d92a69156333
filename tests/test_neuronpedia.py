"""Reading Neuronpedia steering files: each field's mapping against hand-written requests, the messages for a model
or SAE we do not have, and malformed files refused with a NeuronpediaError."""

import json

import numpy as np
import pytest

from desktop_sae.core.interop import neuronpedia_read as npd
from desktop_sae.core.interop.neuronpedia_ids import (
    Target,
    model_id,
    neuronpedia_method,
    parse_source,
    same_model,
    source_id,
)
from desktop_sae.core.interop.neuronpedia_read import parse_neuronpedia
from desktop_sae.core.presets.file_format import SAEIdentity, parse_preset, preset_to_json
from desktop_sae.core.steering import specs as config
from desktop_sae.core.steering.strength import resolve_strength
from desktop_sae.core.support.errors import DesktopSAEError, NeuronpediaError

IDENT = SAEIdentity("smollm2-135m-instruct", 4608, "blocks.12.hook_resid_post", "0123456789abcdef")
OURS = Target("SmolLM2-135M-Instruct", IDENT)
SRC = "12-res-smollm2-135m-instruct"


def request(**kw):
    """Neuronpedia's documented /api/steer example, pointed at our model and SAE."""
    d = {"prompt": "The most iconic structure on Earth is", "modelId": "smollm2-135m-it",
         "features": [{"modelId": "smollm2-135m-it", "layer": SRC, "index": 631, "strength": 38.5}],
         "temperature": 0.2, "n_tokens": 16, "freq_penalty": 1.5, "seed": 16, "strength_multiplier": 4,
         "steer_method": "SIMPLE_ADDITIVE"}
    d.update(kw)
    return {k: v for k, v in d.items() if v is not None}


def parse(d, target=OURS, **kw):
    return parse_neuronpedia(json.dumps(d), target, **kw)


def refused(d, *needles, target=OURS, raw=None):
    with pytest.raises(NeuronpediaError) as e:
        parse_neuronpedia(raw if raw is not None else json.dumps(d), target)
    for n in needles:
        assert n in str(e.value), str(e.value)
    return str(e.value)


# --- each field ---------------------------------------------------------------------------------------------------
def test_the_documented_example_maps_field_by_field():
    imp = parse(request())
    p = imp.preset
    (s,) = p.steering.features
    assert (s.feature, s.strength, s.unit, s.method, s.enabled) == (631, 38.5, "raw", "add", True)
    assert p.steering.multiplier == 4.0
    assert p.steering.skip_special is False  # their default: special tokens are steered
    sp = p.sampling
    assert (sp.temperature, sp.max_new_tokens, sp.frequency_penalty, sp.seed) == (0.2, 16, 1.5, 16)
    assert (sp.top_p, sp.top_k, sp.repetition_penalty) == (1.0, 0, 1.0)  # Neuronpedia samples without these
    assert imp.prompt == "The most iconic structure on Earth is" and p.system is None and imp.outputs == {}
    assert p.sae == IDENT and p.model == "SmolLM2-135M-Instruct"
    assert any("steer_special_tokens" in n for n in imp.notes)


def test_chat_messages_give_the_system_prompt_the_prompt_and_the_history():
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "model", "content": "Hello!"}, {"role": "user", "content": "Plans for the weekend?"}]
    imp = parse(request(prompt=None, steeredChatMessages=chat, defaultChatMessages=chat, steer_special_tokens=True))
    assert imp.preset.system == "Be brief." and imp.prompt == "Plans for the weekend?"
    assert imp.history == (("user", "Hi"), ("assistant", "Hello!"))
    assert imp.preset.steering.skip_special is False
    no_system = parse(request(prompt=None, steeredChatMessages=chat[1:2], steer_special_tokens=False))
    assert no_system.preset.system == "" and no_system.preset.steering.skip_special is True


def test_saved_outputs_in_all_three_spellings():
    assert parse(request(STEERED="bridges!", DEFAULT="hiking")).outputs == {"STEERED": "bridges!", "DEFAULT": "hiking"}
    chat_out = {"raw": "<|im_start|>…", "chatTemplate": [{"role": "user", "content": "Hi"},
                                                           {"role": "assistant", "content": "The bridge."}]}
    imp = parse(request(STEERED=chat_out, types=["STEERED"]))
    assert imp.outputs == {"STEERED": "The bridge."} and imp.types == ("STEERED",)
    server = parse(request(outputs=[{"type": "DEFAULT", "output": "plain"}, {"type": "STEERED", "output": "odd"}]))
    assert server.outputs == {"DEFAULT": "plain", "STEERED": "odd"}


def test_inference_server_spellings_and_texts_of_indices():
    d = request(n_tokens=None, modelId=None, model="smollm2-135m-it", n_completion_tokens=33,
                features=[{"model": "smollm2-135m-it", "source": SRC, "index": "42", "strength": -3,
                           "explanation": "bridges"}])
    p = parse(d).preset
    assert p.sampling.max_new_tokens == 33
    (s,) = p.steering.features
    assert (s.feature, s.strength, s.label) == (42, -3.0, "bridges")


def test_missing_settings_take_neuronpedias_defaults_and_say_so():
    imp = parse({"modelId": "smollm2-135m-it", "features": []})
    sp = imp.preset.sampling
    assert (sp.temperature, sp.max_new_tokens, sp.frequency_penalty, sp.seed) == (0.5, 256, 1.0, 16)
    assert imp.preset.steering.multiplier == 1.0 and imp.prompt == ""
    assert any("temperature" in n and "n_tokens" in n for n in imp.notes)


def test_orthogonal_decomposition_folds_the_multiplier_into_each_gain():
    p = parse(request(steer_method="ORTHOGONAL_DECOMP", strength_multiplier=2,
                      features=[{"modelId": "smollm2-135m-it", "layer": SRC, "index": 5, "strength": 0.25}])).preset
    (s,) = p.steering.features
    assert s.method == "orth" and p.steering.multiplier == 1.0
    got = resolve_strength(s, p.steering.multiplier, None, None, None).coefficient
    assert got == pytest.approx(0.5)  # theirs: (I - P)x + (m*s) Px with m*s = 0.5


def test_projection_cap_maps_to_our_cap_method_both_ways():
    d = request(steer_method="PROJECTION_CAP")
    (s,) = parse(d).preset.steering.features
    assert s.method == "cap"
    assert neuronpedia_method("cap") == "PROJECTION_CAP"


def test_unknown_fields_are_named_and_bookkeeping_is_quiet():
    imp = parse(request(id="abc", shareUrl="https://x", steeredLogProbs=[], mystery=1))
    assert [n for n in imp.notes if "ignored" in n] == ["ignored fields: 'mystery'"]


# --- model and SAE ------------------------------------------------------------------------------------------------
def test_model_ids_map_both_ways():
    assert model_id("SmolLM2-135M-Instruct") == "smollm2-135m-it"
    assert model_id("HuggingFaceTB/SmolLM2-135M-Instruct") == "smollm2-135m-it"
    assert model_id("SmolLM2-135M-Instruct.Q4_1") == "smollm2-135m-it"
    assert model_id("google/gemma-2-2b") == "gemma-2-2b" and model_id("Qwen/Qwen2.5-7B-Instruct") == "qwen2.5-7b-it"
    assert model_id("whatever", "gemma-2-2b/20-gemmascope-res-16k") == "gemma-2-2b"
    for theirs in ("smollm2-135m-it", "SmolLM2-135M-Instruct", "huggingfacetb/smollm2-135m-instruct"):
        assert same_model(theirs, "SmolLM2-135M-Instruct")
    assert not same_model("gemma-2-2b", "SmolLM2-135M-Instruct")


def test_source_ids_map_to_hooks():
    assert source_id(IDENT) == SRC
    assert parse_source("12-res-jb").hook == "blocks.12.hook_resid_post"
    assert parse_source("20-gemmascope-res-16k").hook == "blocks.20.hook_resid_post"
    assert parse_source("3-mlp-x").hook == "blocks.3.hook_mlp_out" and parse_source("res-jb") is None
    mlp = SAEIdentity("My SAE", 10, "blocks.3.hook_attn_out")
    assert source_id(mlp) == "3-att-my-sae"
    assert source_id(IDENT, "gemma-2-2b/20-gemmascope-res-16k") == "20-gemmascope-res-16k"


def test_a_model_we_do_not_have_is_named_with_the_one_we_have():
    msg = refused(request(modelId="gemma-2b"))
    assert "'gemma-2b'" in msg and "SmolLM2-135M-Instruct" in msg and "'smollm2-135m-it'" in msg
    feat = request(features=[{"modelId": "gpt2-small", "layer": SRC, "index": 1, "strength": 1}])
    refused(feat, "features[0]", "'gpt2-small'", "SmolLM2-135M-Instruct")


def test_an_sae_we_do_not_have_is_named_with_the_one_we_have():
    f = request()["features"][0]
    other_layer = refused(request(features=[{**f, "layer": "6-res-jb"}]), "'6-res-jb'", "layer 6")
    assert "blocks.12.hook_resid_post" in other_layer and SRC in other_layer and "4608 features" in other_layer
    same_site = refused(request(features=[{**f, "layer": "12-res-jb"}]), "'12-res-jb'", "another SAE", SRC)
    assert "feature numbers differ" in same_site
    refused(request(), "no SAE is loaded", target=Target("SmolLM2-135M-Instruct", None))
    refused(request(features=[{**f, "index": 4608}]), "feature 4608 does not exist", "0..4607")


def test_an_sae_with_a_neuronpedia_id_uses_its_real_ids():
    gemma = Target("google/gemma-2-2b", SAEIdentity("layer_20", 16384, "blocks.20.hook_resid_post"),
                   "gemma-2-2b/20-gemmascope-res-16k")
    d = {"modelId": "gemma-2-2b", "features": [{"modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k",
                                                 "index": 3124, "strength": 38.5}]}
    (s,) = parse(d, gemma).preset.steering.features
    assert s.feature == 3124


def test_sae_neuronpedia_id_reads_the_saelens_cfg(tmp_path):
    (tmp_path / "cfg.json").write_text(json.dumps({"metadata": {"neuronpedia_id": "gpt2-small/0-res-jb"}}))
    assert npd.sae_neuronpedia_id(tmp_path) == "gpt2-small/0-res-jb"
    (tmp_path / "cfg.json").write_text("{broken")
    assert npd.sae_neuronpedia_id(tmp_path) == "" and npd.sae_neuronpedia_id(None) == ""


def test_max_units_restored_from_our_block_need_statistics():
    from desktop_sae.core.interop.neuronpedia_write import to_neuronpedia
    from desktop_sae.core.presets.file_format import Preset

    steer = config.SteeringConfig((config.SteerSpec(7, 3.0, "max"),))
    doc, _ = to_neuronpedia(Preset("x", steer, sae=IDENT), OURS, max_activation=np.full(4608, 2.0))
    refused(doc, "× max activation", "no statistics")
    assert parse(doc, max_activation=np.full(4608, 2.0)).preset.steering == steer


# --- malformed files ----------------------------------------------------------------------------------------------
F = request()["features"][0]
BAD = [
    (b"", "not valid JSON"), (b"[1, 2]", "JSON object"), (b"{\"modelId\": " + b"[" * 100_000, "JSON"),
    (json.dumps({"features": []}), "which model"),
    (request(features={"a": 1}), "list"), (request(features=[5]), "features[0] must be an object"),
    (request(features=[{**F, "index": True}]), "index"), (request(features=[{**F, "index": -1}]), "index"),
    (request(features=[{**F, "index": 1.5}]), "index"), (request(features=[F, F]), "listed twice"),
    (request(features=[{**F, "strength": "big"}]), "strength"),
    (request(features=[{**F, "strength": 1e7}]), "strength"),
    (json.dumps(request()).replace("38.5", "NaN"), "strength"),
    (request(features=[{**F, "hasVector": True}]), "custom steering vector"),
    (request(steer_method="MAGIC"), "unknown steer_method"), (request(temperature=-1), "temperature"),
    (request(temperature="hot"), "temperature"), (request(n_tokens=2.5), "n_tokens"), (request(seed=-5), "seed"),
    (request(seed=2**64), "seed"), (request(strength_multiplier=1000), "strength_multiplier"),
    (request(steer_special_tokens="yes"), "steer_special_tokens"),
    (request(steeredChatMessages=[{"role": "user", "content": "x"}]), "both a prompt and chat"),
    (request(prompt=None, steeredChatMessages=[{"role": "user", "content": "x"}, {"role": "assistant",
                                                                                  "content": "y"}]), "must end"),
    (request(prompt=None, steeredChatMessages=[{"role": "user", "content": "x"}, {"role": "system", "content": "y"}]),
     "first message"),
    (request(prompt=None, defaultChatMessages=[{"role": "hacker", "content": "x"}]), "role"),
    (request(prompt=["x"]), "prompt"), (request(prompt="\ud800"), "surrogate"),
    (request(vectors=[{"steeringVector": [1, 2]}]), "custom vectors"), (request(normalize_steering=True), "normalize"),
    (request(types=["STEERED", "STEERED"]), "types"), (request(types=["OTHER"]), "types"),
    (request(STEERED=5), "STEERED"), (request(outputs=[{"type": "X", "output": "y"}]), "outputs[0]"),
    (request(desktopSae=[]), "desktopSae"), (request(desktopSae={"preset": {"schema": "nope"}}), "not a Desktop SAE"),
    (request(modelId="smollm2-135m-it", model="gemma-2b"), "both"),
    (request(name=7), "name"),
]


@pytest.mark.parametrize("bad,needle", BAD, ids=[str(i) for i in range(len(BAD))])
def test_malformed_files_are_refused_with_a_message(bad, needle):
    raw = bad if isinstance(bad, (str, bytes)) else json.dumps(bad)
    msg = refused(None, needle, raw=raw)
    assert isinstance(NeuronpediaError(msg), DesktopSAEError) and len(msg) < 2000


def test_a_huge_file_is_refused_before_parsing():
    refused(None, "too large", raw=b" " * (npd.MAX_BYTES + 1))


def test_every_import_can_be_saved_as_a_preset():
    chat = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    for d in (request(), request(prompt=None, steeredChatMessages=chat), request(steer_method="ORTHOGONAL_DECOMP")):
        p = parse(d).preset
        assert parse_preset(preset_to_json(p)) == p
