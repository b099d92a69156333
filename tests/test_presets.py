"""Core presets: JSON round trip, validation before applying, SAE identity checks, the store (atomic save,
rename, delete, recent) and the shipped built-ins."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.presets.demo_concepts import DemoConcept, load_demo_concepts
from desktop_sae.core.presets.file_format import Preset, SAEIdentity, parse_preset, preset_to_json
from desktop_sae.core.presets.identity import check_preset, sae_identity
from desktop_sae.core.presets.store import PresetStore
from desktop_sae.core.sae.autoencoder import SAE
from desktop_sae.core.sae.sae_config import SAEConfig
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.support.errors import PresetError

IDENT = SAEIdentity(name="my-sae", d_sae=64, hook="blocks.1.hook_resid_post", fingerprint="abc")


def _preset(**kw) -> Preset:
    base = Preset(
        name="Bridge mode",
        steering=SteeringConfig(
            (SteerSpec(3, 8.0, "max", "clamp", True, "bridge"), SteerSpec(10, -2.5, "raw", "add", False, "code")),
            multiplier=0.5,
            skip_special=False,
        ),
        sampling=SamplingConfig(temperature=0.7, top_p=0.9, frequency_penalty=0.5, seed=7, max_new_tokens=33),
        model="SmolLM2-135M-Instruct",
        sae=IDENT,
        system="Be brief.",
        description="demo",
    )
    return replace(base, **kw)


def test_round_trip_restores_everything():
    p = _preset()
    q = parse_preset(preset_to_json(p))
    assert q == p
    d = json.loads(preset_to_json(p))
    assert d["version"] == 1 and d["schema"] == "desktop-sae-preset"
    assert d["steering"]["features"][0] == {
        "id": 3, "label": "bridge", "strength": 8.0, "unit": "max", "method": "clamp", "enabled": True}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: "{not json", "not valid JSON"),
        (lambda d: "[]", "JSON object"),
        (lambda d: {**d, "schema": "x"}, "not a Desktop SAE preset"),
        (lambda d: {**d, "version": 99}, "newer"),
        (lambda d: _feat(d, strength="big"), "strength"),
        (lambda d: _feat(d, strength=float("inf")), "strength"),
        (lambda d: _feat(d, id=-1), "id"),
        (lambda d: _feat(d, id=True), "id"),
        (lambda d: _feat(d, method="boost"), "method"),
        (lambda d: _feat(d, unit="percent"), "unit"),
        (lambda d: _feat(d, enabled="yes"), "enabled"),
        (lambda d: {**d, "sampling": {"temperature": -1}}, "temperature"),
        (lambda d: {**d, "sampling": {"top_p": 2}}, "top_p"),
        (lambda d: {**d, "sampling": {"warp": 9}}, "unknown sampling"),
        (lambda d: {**d, "steering": {"features": "x"}}, "features"),
        (lambda d: {**d, "steering": {"features": [], "multiplier": None}}, "multiplier"),
        (lambda d: {k: v for k, v in d.items() if k != "steering"}, "steering"),
    ],
)
def test_malformed_presets_are_rejected_with_a_reason(mutate, message):
    d = json.loads(preset_to_json(_preset()))
    bad = mutate(d)
    text = bad if isinstance(bad, str) else json.dumps(bad, allow_nan=True)
    with pytest.raises(PresetError, match=message):
        parse_preset(text, "bad.json")


def _feat(d, **kw):
    d["steering"]["features"][0].update(kw)
    return d


def test_check_against_the_loaded_sae():
    p = _preset()
    maxact = np.ones(64, np.float32)
    check_preset(p, IDENT, maxact)  # fits
    with pytest.raises(PresetError, match="another SAE"):
        check_preset(p, replace(IDENT, d_sae=128), np.ones(128))
    with pytest.raises(PresetError, match="weights differ"):
        check_preset(p, replace(IDENT, fingerprint="zzz"), maxact)
    with pytest.raises(PresetError, match="blocks.1"):
        check_preset(p, replace(IDENT, hook="blocks.5.hook_resid_post"), maxact)
    with pytest.raises(PresetError, match="does not exist"):
        check_preset(_preset(sae=replace(IDENT, d_sae=0)), replace(IDENT, d_sae=5), np.ones(5))
    with pytest.raises(PresetError, match="statistics"):
        check_preset(p, IDENT, None)
    with pytest.raises(PresetError, match="no SAE"):
        check_preset(p, None, None)
    no_fp = _preset(sae=replace(IDENT, fingerprint=""))
    with pytest.raises(PresetError, match="other-sae"):
        check_preset(no_fp, replace(IDENT, name="other-sae"), maxact)


def test_sae_identity_survives_dtype_moves(tmp_path):
    sae = SAE(SAEConfig(d_in=8, d_sae=16, hook_name="blocks.0.hook_resid_post"))
    with torch.no_grad():
        sae.W_dec.normal_()
    a = sae_identity(sae, name="x")
    b = sae_identity(sae.to(torch.bfloat16), name="x")
    assert a == b and a.d_sae == 16 and len(a.fingerprint) == 16


def test_store_save_load_rename_delete_recent(tmp_path):
    store = PresetStore(tmp_path / "user", tmp_path / "builtin")
    (tmp_path / "builtin").mkdir()
    (tmp_path / "builtin" / "b.json").write_text(preset_to_json(_preset(name="Built in")))
    path = store.save(_preset(name="My/odd:name"))
    assert path.parent == tmp_path / "user" and path.exists()
    assert not list((tmp_path / "user").glob("*.tmp"))
    assert store.read(path) == _preset(name="My/odd:name")
    names = {(e.name, e.builtin) for e in store.entries()}
    assert names == {("Built in", True), ("My/odd:name", False)}
    new = store.rename(path, "Renamed")
    assert not path.exists() and store.read(new).name == "Renamed"
    assert store.recent() == [new.resolve()]
    with pytest.raises(PresetError, match="built-in"):
        store.delete(tmp_path / "builtin" / "b.json")
    store.delete(new)
    assert not new.exists() and store.recent() == []
    with pytest.raises(PresetError, match="cannot read"):
        store.read(new)


def test_demo_references(tmp_path):
    f = tmp_path / "demo.json"
    f.write_text(json.dumps({"concepts": [{"concept": "bridge", "feature": 12, "label": "Golden Gate", "strength": 4.0,
                                           "unit": "max", "method": "clamp"}]}))
    demo = load_demo_concepts(f)
    assert demo == {"bridge": DemoConcept("bridge", 12, "Golden Gate", 4.0, "max", "clamp")}
    d = json.loads(preset_to_json(_preset()))
    d["steering"]["features"][0] = {"demo": "bridge", "strength": 5, "method": "add"}
    p = parse_preset(json.dumps(d), "b.json", demo)
    s = p.steering.features[0]
    assert (s.feature, s.strength, s.unit, s.method, s.label) == (12, 5.0, "max", "add", "Golden Gate")
    assert p.demo_refs == {0: "bridge"}
    d["steering"]["features"][0] = {"demo": "bridge"}  # everything from the demo list
    s = parse_preset(json.dumps(d), "b.json", demo).steering.features[0]
    assert (s.strength, s.method) == (4.0, "clamp")
    with pytest.raises(PresetError, match="demo feature list"):
        parse_preset(json.dumps(d), "b.json", None)
    with pytest.raises(PresetError, match="unknown demo concept"):
        parse_preset(json.dumps(d), "b.json", {"code": DemoConcept("code", 1)})


def test_shipped_builtins_parse():
    """Built-ins parse; one naming a demo concept the shipped demo list lacks (yet) fails with a clear message."""
    store = PresetStore()
    builtins = [e for e in store.entries() if e.builtin]
    assert len(builtins) >= 3
    demo = load_demo_concepts() or {}
    ok = 0
    for e in builtins:
        try:
            p = store.read(e.path)
        except PresetError as err:
            assert "demo" in str(err)
            continue
        ok += 1
        assert p.name == e.name
        for i, concept in p.demo_refs.items():  # a demo concept's rows: its set's features, or its one feature
            assert p.steering.features[i].feature in demo[concept].features
        for concept in set(p.demo_refs.values()):
            rows = [p.steering.features[i].feature for i, c in p.demo_refs.items() if c == concept]
            assert tuple(rows) == demo[concept].features
    assert ok >= 1
