"""Writing Neuronpedia steering files and reading them back: ours -> theirs -> ours gives the same settings,
theirs -> ours -> theirs keeps their fields, and each field of an export against hand-written expectations."""

import json
from dataclasses import replace

import numpy as np
import pytest

from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.interop.neuronpedia_ids import EXTRA, Target
from desktop_sae.core.interop.neuronpedia_read import parse_neuronpedia
from desktop_sae.core.interop.neuronpedia_write import neuronpedia_json, to_neuronpedia
from desktop_sae.core.presets.file_format import Preset, SAEIdentity
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.steering.strength import resolve_strength
from desktop_sae.core.support.errors import NeuronpediaError

IDENT = SAEIdentity("smollm2-135m-instruct", 4608, "blocks.12.hook_resid_post", "0123456789abcdef")
OURS = Target("SmolLM2-135M-Instruct", IDENT)
SRC = "12-res-smollm2-135m-instruct"
MAX_ACT = np.linspace(1.0, 50.0, 4608).astype(np.float32)


def preset(*specs, multiplier=1.0, skip=True, system=None, **sampling):
    return Preset("mine", SteeringConfig(tuple(specs), multiplier, skip), SamplingConfig(**sampling),
                  "SmolLM2-135M-Instruct", IDENT, system, "a description")


def there_and_back(p, messages=(), outputs=None):
    doc, notes = to_neuronpedia(p, OURS, messages, outputs, MAX_ACT)
    return doc, notes, parse_neuronpedia(neuronpedia_json(doc), OURS, MAX_ACT)


OURS_CASES = [
    preset(SteerSpec(631, 3.0, "max", "add", True, "bridges"), SteerSpec(12, -40.0)),
    preset(SteerSpec(5, 2.5, "raw", "orth"), SteerSpec(6, 0.0, "raw", "orth", False), multiplier=0.5),
    preset(SteerSpec(1, 8.0, "max"), multiplier=-2.0, skip=False, system="Be a pirate.", seed=None, top_p=0.8,
           top_k=40, repetition_penalty=1.3, temperature=1.7, max_new_tokens=0),
    preset(multiplier=25.0, frequency_penalty=-3.0, seed=2**62),
    preset(SteerSpec(4607, 1e-7, "raw", "add", True, "ö 🙂 \"quoted\"")),
]


@pytest.mark.parametrize("p", OURS_CASES, ids=[str(i) for i in range(len(OURS_CASES))])
def test_ours_to_theirs_to_ours_is_the_same(p):
    _doc, _notes, back = there_and_back(p, [("user", "Hi"), ("assistant", "Hello"), ("user", "Plans?")])
    assert back.restored and back.preset == p
    assert back.prompt == "Plans?" and back.history == (("user", "Hi"), ("assistant", "Hello"))


def test_the_export_has_neuronpedias_fields():
    p = preset(SteerSpec(631, 3.0, "max", "add", True, "bridges"), SteerSpec(12, -40.0),
               SteerSpec(9, 1.0, enabled=False), multiplier=2.0, system="Be brief.", temperature=0.7,
               max_new_tokens=64, frequency_penalty=0.5, seed=3)
    doc, notes, _ = there_and_back(p, [("user", "Weekend?")], {"STEERED": "bridges", "DEFAULT": "hiking"})
    assert doc["modelId"] == "smollm2-135m-it"
    assert doc["features"] == [
        {"modelId": "smollm2-135m-it", "layer": SRC, "index": 631, "strength": pytest.approx(3.0 * MAX_ACT[631]),
         "explanation": "bridges"},
        {"modelId": "smollm2-135m-it", "layer": SRC, "index": 12, "strength": -40.0},
    ]
    assert (doc["strength_multiplier"], doc["steer_method"], doc["steer_special_tokens"]) == (2.0, "SIMPLE_ADDITIVE",
                                                                                            False)
    assert (doc["temperature"], doc["n_tokens"], doc["freq_penalty"], doc["seed"]) == (0.7, 64, 0.5, 3)
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weekend?"}]
    assert doc["steeredChatMessages"] == chat and doc["defaultChatMessages"] == chat and "prompt" not in doc
    assert doc["types"] == ["STEERED", "DEFAULT"] and (doc["STEERED"], doc["DEFAULT"]) == ("bridges", "hiking")
    assert any("switched-off" in n and "9" in n for n in notes)
    json.loads(neuronpedia_json(doc))  # plain JSON, no NaN


def test_the_strength_of_an_export_acts_as_ours_does():
    """Neuronpedia adds multiplier * strength * W_dec[f]; that product equals our resolved coefficient."""
    p = preset(SteerSpec(631, 3.0, "max"), SteerSpec(7, -4.0), multiplier=1.5)
    doc, _, _ = there_and_back(p)
    for f, spec in zip(doc["features"], p.steering.features, strict=True):
        ours = resolve_strength(spec, 1.5, float(MAX_ACT[spec.feature]), None, None).coefficient
        assert doc["strength_multiplier"] * f["strength"] == pytest.approx(ours)


def test_an_orthogonal_export_writes_our_gain():
    p = preset(SteerSpec(3, 3.0, "raw", "orth"), multiplier=0.5)
    doc, _, _ = there_and_back(p)
    assert doc["steer_method"] == "ORTHOGONAL_DECOMP" and doc["strength_multiplier"] == 1.0
    assert doc["features"][0]["strength"] == pytest.approx(1 + 0.5 * (3.0 - 1))


def test_what_neuronpedia_would_refuse_is_noted():
    doc, notes, _ = there_and_back(preset(SteerSpec(1, 2.0), multiplier=-2.0, seed=None, temperature=3.0,
                                          max_new_tokens=512))
    assert doc["strength_multiplier"] == 1.0 and doc["features"][0]["strength"] == -4.0  # folded in
    assert doc["seed"] == 16
    text = " ".join(notes)
    for needle in ("folded", "seed is random", "temperature 3", "n_tokens 512"):
        assert needle in text


def test_steering_neuronpedia_cannot_express_is_refused():
    with pytest.raises(NeuronpediaError, match="clamp.*no steer_method"):
        to_neuronpedia(preset(SteerSpec(1, 2.0, "raw", "clamp")), OURS)
    with pytest.raises(NeuronpediaError, match="one steer_method.*add and orth"):
        to_neuronpedia(preset(SteerSpec(1, 2.0), SteerSpec(2, 2.0, "raw", "orth")), OURS)
    with pytest.raises(NeuronpediaError, match="need an SAE"):
        to_neuronpedia(preset(SteerSpec(1, 2.0)), Target("SmolLM2-135M-Instruct", None))
    to_neuronpedia(preset(SteerSpec(1, 2.0, "raw", "clamp", enabled=False)), OURS)  # switched off: fine


THEIRS_CASES = [
    {"modelId": "smollm2-135m-it", "features": [{"modelId": "smollm2-135m-it", "layer": SRC, "index": 631,
                                                  "strength": 38.5}, {"modelId": "smollm2-135m-it", "layer": SRC,
                                                                      "index": 3, "strength": -2}],
     "strength_multiplier": 4, "steer_method": "SIMPLE_ADDITIVE", "temperature": 0.2, "n_tokens": 16,
     "freq_penalty": 1, "seed": 16, "steer_special_tokens": True,
     "steeredChatMessages": [{"role": "user", "content": "Hi"}], "defaultChatMessages": [{"role": "user",
                                                                                          "content": "Hi"}],
     "types": ["STEERED", "DEFAULT"], "STEERED": "a", "DEFAULT": "b"},
    {"modelId": "smollm2-135m-it", "features": [{"modelId": "smollm2-135m-it", "layer": SRC, "index": 10,
                                                  "strength": 2.5}],
     "strength_multiplier": 1, "steer_method": "ORTHOGONAL_DECOMP", "temperature": 0, "n_tokens": 256,
     "freq_penalty": 0, "seed": 1, "steer_special_tokens": False, "types": ["STEERED"], "STEERED": "x"},
]


@pytest.mark.parametrize("theirs", THEIRS_CASES, ids=["additive", "orthogonal"])
def test_theirs_to_ours_to_theirs_keeps_their_fields(theirs):
    imp = parse_neuronpedia(json.dumps(theirs), OURS)
    messages = [*imp.history, ("user", imp.prompt)] if imp.prompt else []
    doc, _ = to_neuronpedia(imp.preset, OURS, messages, imp.outputs)
    doc.pop(EXTRA)
    assert doc == theirs


def test_theirs_orthogonal_with_a_multiplier_keeps_its_effect():
    theirs = {**THEIRS_CASES[1], "strength_multiplier": 2}
    doc, _ = to_neuronpedia(parse_neuronpedia(json.dumps(theirs), OURS).preset, OURS, (), {"STEERED": "x"})
    (f,) = doc["features"]
    assert doc["strength_multiplier"] * f["strength"] == pytest.approx(2 * 2.5)  # their gain m*s


def test_an_edited_file_uses_the_neuronpedia_fields():
    p = preset(SteerSpec(631, 3.0, "max", "add", True, "bridges"), top_p=0.5)
    doc, _, _ = there_and_back(p)
    doc["features"][0]["strength"] = 99.0
    back = parse_neuronpedia(json.dumps(doc), OURS, MAX_ACT)
    assert not back.restored and any("does not match" in n for n in back.notes)
    assert back.preset.steering.features[0] == SteerSpec(631, 99.0, "raw", "add", True, "bridges")
    assert back.preset.sampling.top_p == 1.0


def test_a_renamed_copy_of_the_same_sae_is_recognised_by_its_weights():
    doc, _, _ = there_and_back(preset(SteerSpec(5, 1.0)))
    moved = Target("SmolLM2-135M-Instruct", replace(IDENT, name="my-copy"))  # source id 12-res-my-copy now
    back = parse_neuronpedia(json.dumps(doc), moved, MAX_ACT)
    assert back.restored and back.preset.steering.features[0].feature == 5
    other = Target("SmolLM2-135M-Instruct", replace(IDENT, name="my-copy", fingerprint="ffff"))
    with pytest.raises(NeuronpediaError, match="another SAE"):
        parse_neuronpedia(json.dumps(doc), other, MAX_ACT)
    doc.pop(EXTRA)  # without our block nothing vouches for the weights
    with pytest.raises(NeuronpediaError, match="another SAE"):
        parse_neuronpedia(json.dumps(doc), moved, MAX_ACT)
