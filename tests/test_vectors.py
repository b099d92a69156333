"""Steering with a vector (not an SAE feature): the maths at the tap, files, presets and the controller."""

import json

import numpy as np
import pytest
import torch

from desktop_sae.core.engine.sae_tap import SAETap
from desktop_sae.core.presets.file_format import Preset, parse_preset, preset_to_dict
from desktop_sae.core.steering.plan import plan_steering
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.steering.vectors import SteeringVector, load_vector, save_vector
from desktop_sae.core.support.errors import PresetError, SteeringError
from tiny import random_sae


def run(sae, specs, x):
    tap = SAETap(sae, plan_steering(SteeringConfig(tuple(specs)), sae, None), top_k=4)
    with torch.no_grad():
        out = tap(x)
    return x if out is None else out


@pytest.fixture
def x():
    return torch.randn(1, 5, 64, generator=torch.Generator().manual_seed(1))


def vec(seed=3, d=64):
    return SteeringVector.from_array("v", np.random.default_rng(seed).normal(size=d))


def test_an_added_vector_adds_strength_times_the_vector(x):
    sae, v = random_sae(), vec()
    out = run(sae, [v.spec(-1, 2.5), SteerSpec(7, -1.0)], x)
    expected = x + 2.5 * torch.tensor(v.values, dtype=torch.float32) - 1.0 * sae.W_dec[7].detach()
    torch.testing.assert_close(out, expected)


def test_an_orthogonal_vector_scales_the_component_along_it(x):
    sae, v = random_sae(), vec()
    out = run(sae, [v.spec(-1, 0.0, "orth")], x)  # gain 0 removes the component
    u = torch.tensor(v.values, dtype=torch.float32)
    u = u / u.norm()
    torch.testing.assert_close(out @ u, torch.zeros(1, 5), atol=1e-4, rtol=0)
    torch.testing.assert_close(out - x, -(x @ u)[..., None] * u)


def test_vectors_are_checked_before_anything_runs():
    sae = random_sae()
    with pytest.raises(SteeringError, match="64"):
        plan_steering(SteeringConfig((vec(d=10).spec(-1, 1.0),)), sae)
    with pytest.raises(SteeringError, match="clamp"):
        vec().spec(-1, 1.0, "clamp")
    with pytest.raises(SteeringError, match="negative"):
        SteerSpec(3, 1.0, vector=(1.0, 2.0))
    with pytest.raises(SteeringError, match="finite"):
        SteerSpec(-1, 1.0, vector=(1.0, float("nan")))
    with pytest.raises(SteeringError, match="raw"):
        SteerSpec(-1, 1.0, "max", vector=(1.0,))


def test_scaled_to_keeps_direction_and_sets_the_length():
    v = vec()
    w = v.scaled_to(7.0)
    assert w.norm == pytest.approx(7.0)
    assert np.allclose(np.array(w.values) / 7.0, np.array(v.values) / v.norm)


def test_a_vector_file_round_trips_and_foreign_files_are_refused(tmp_path):
    v = SteeringVector.from_array("bridge minus town", np.arange(8.0), hook="blocks.12.hook_resid_post",
                                  source="mean difference", meta={"positives": 3})
    p = save_vector(v, tmp_path / "v.safetensors")
    back = load_vector(p)
    assert back.values == v.values and back.hook == v.hook and back.name == v.name and back.meta == {"positives": 3}
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SteeringError, match="npy"):
        load_vector(tmp_path / "obj.npy")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(SteeringError, match="not a steering vector"):
        load_vector(tmp_path / "junk.safetensors")
    np.save(tmp_path / "ok.npy", np.ones(4))
    assert load_vector(tmp_path / "ok.npy").values == (1.0,) * 4


def test_a_preset_holds_a_vector_inline():
    spec = vec(d=6).spec(-1, 1.5, "orth")
    p = Preset("with a vector", SteeringConfig((SteerSpec(2, 3.0, "max"), spec)))
    d = json.loads(json.dumps(preset_to_dict(p)))
    back = parse_preset(json.dumps(d))
    assert back.steering.features[1] == spec
    d["steering"]["features"][1]["vector"] = [1.0, "x"]
    with pytest.raises(PresetError, match="finite numbers"):
        parse_preset(json.dumps(d))
    d["steering"]["features"][1]["vector"] = [1.0, 2.0]
    d["steering"]["features"][1]["method"] = "clamp"
    with pytest.raises(PresetError, match="clamp"):
        parse_preset(json.dumps(d))
    d["steering"]["features"][0]["id"] = -4  # a negative key without a vector
    with pytest.raises(PresetError, match="negative key"):
        parse_preset(json.dumps(d))
