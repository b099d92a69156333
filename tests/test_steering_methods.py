"""Projection cap and conditional steering (docs/MATHS.md, "Steering"), checked against hand computations."""

import numpy as np
import pytest
import torch

from desktop_sae.core.engine.sae_tap import SAETap
from desktop_sae.core.presets.file_format import Preset, parse_preset, preset_to_json
from desktop_sae.core.presets.identity import check_preset, sae_identity
from desktop_sae.core.sae.autoencoder import SAE
from desktop_sae.core.sae.sae_config import FeatureStats, SAEConfig
from desktop_sae.core.steering.plan import plan_steering
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.steering.strength import resolve_strength, resolve_threshold
from desktop_sae.core.steering.syntax import parse_steer
from desktop_sae.core.steering.vectors import SteeringVector
from desktop_sae.core.support.errors import PresetError, SteeringError
from tiny import random_sae, with_stats


def run(sae, *specs, x, multiplier=1.0, mask=None):
    tap = SAETap(sae, plan_steering(SteeringConfig(tuple(specs), multiplier), sae, 10.0), top_k=4)
    tap.mask = mask
    with torch.no_grad():
        out = tap(x)
    return (x if out is None else out), tap


@pytest.fixture
def x():
    return torch.randn(1, 6, 64, generator=torch.Generator().manual_seed(2)) * 2


def unit(v):
    v = v.detach().float()
    return v / v.norm()


# --- projection cap ----------------------------------------------------------------------------------------------
def test_cap_bounds_the_projection_and_leaves_the_rest(x):
    sae = random_sae()
    u = unit(sae.W_dec[5])
    proj = x @ u  # [1, 6]
    c = float(proj.median())  # some positions above the cap, some below
    out, _ = run(sae, SteerSpec(5, c, method="cap"), x=x)
    expected = x - torch.clamp(proj - c, min=0)[..., None] * u  # by hand
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out @ u, torch.minimum(proj, torch.tensor(c)), atol=1e-5, rtol=0)
    below = proj <= c
    assert below.any() and (~below).any()
    assert torch.equal(out[below], x[below])  # under the cap: untouched, bit for bit


def test_cap_in_max_units_multiplier_and_vectors(x):
    sae = with_stats(random_sae(), max_act=3.0)
    norm = float(sae.W_dec[5].detach().norm())
    r = resolve_strength(SteerSpec(5, 0.5, "max", "cap"), 0.25, 3.0, norm, 10.0)
    assert r.coefficient == pytest.approx(0.5 * 3.0 * norm) and r.x_max == pytest.approx(0.5)
    assert r.weight == 0.25 and r.pct_norm == pytest.approx(100 * 0.5 * 3.0 * norm / 10.0)
    u = unit(sae.W_dec[5])
    c = 0.5 * 3.0 * norm
    out, _ = run(sae, SteerSpec(5, 0.5, "max", "cap"), x=x, multiplier=0.25)
    torch.testing.assert_close(out, x - 0.25 * torch.clamp(x @ u - c, min=0)[..., None] * u)
    same, _ = run(sae, SteerSpec(5, 0.5, "max", "cap"), x=x, multiplier=0.0)
    assert torch.equal(same, x)  # m = 0 is always "no steering"
    v = SteeringVector.from_array("v", np.random.default_rng(0).normal(size=64))
    uv = torch.tensor(v.values, dtype=torch.float32)
    uv = uv / uv.norm()
    out, _ = run(sae, v.spec(-1, -0.5, "cap"), x=x)
    torch.testing.assert_close(out, x - torch.clamp(x @ uv + 0.5, min=0)[..., None] * uv)


def test_cap_without_statistics_in_max_units_is_refused():
    with pytest.raises(SteeringError, match="statistics"):
        plan_steering(SteeringConfig((SteerSpec(5, 1.0, "max", "cap"),)), random_sae())


def test_reported_activations_after_a_cap_are_those_of_the_steered_residual(x):
    sae = random_sae(arch="standard")
    out, tap = run(sae, SteerSpec(3, 0.0, method="cap"), SteerSpec(9, 1.0), x=x)
    with torch.no_grad():
        vals, _ = sae.encode(out)[0].topk(4, dim=-1)
    torch.testing.assert_close(tap.last.top_vals, vals, atol=1e-4, rtol=1e-4)


# --- conditional steering ------------------------------------------------------------------------------------
def firing_sae(g=4):
    """Standard SAE with orthonormal rows (encoder = decoder^T, no biases): a_g(x) = relu(x . W_dec[g])."""
    sae = SAE(SAEConfig(64, 32, "standard", hook_name="blocks.1.hook_resid_post"))
    q, _ = torch.linalg.qr(torch.randn(64, 32, generator=torch.Generator().manual_seed(5)))
    with torch.no_grad():
        sae.W_dec.copy_(q.T)
        sae.W_enc.copy_(q)
    sae.stats = FeatureStats(np.full(32, 2.0, np.float32))
    return sae


def conditioned_x(sae, g, amounts):
    x = torch.randn(1, len(amounts), 64, generator=torch.Generator().manual_seed(9))
    v = sae.W_dec[g].detach()
    x = x - (x @ v)[..., None] * v  # nothing along g ...
    return x + torch.tensor(amounts)[None, :, None] * v  # ... except the amounts given (a_g = relu(amount))


@pytest.mark.parametrize("when,unit", [((4, 1.0), "raw"), ((4, 0.5), "max")])  # 0.5 x max 2.0 = 1.0
def test_conditional_steer_is_exact_where_the_feature_fires_and_zero_elsewhere(when, unit):
    sae = firing_sae()
    x = conditioned_x(sae, 4, [3.0, -1.0, 0.5, 1.5, 0.0, 2.0])  # fires above 1.0 at positions 0, 3, 5
    out, _ = run(sae, SteerSpec(7, 2.5, when=when, when_unit=unit), x=x)
    delta = out - x
    fires = torch.tensor([True, False, False, True, False, True])
    torch.testing.assert_close(delta[0, fires], (2.5 * sae.W_dec[7].detach()).expand(3, 64))
    assert torch.equal(delta[0, ~fires], torch.zeros(3, 64))


def test_conditions_combine_with_unconditional_rows_special_masks_and_clamps():
    sae = firing_sae()
    x = conditioned_x(sae, 4, [3.0, 3.0, -1.0, 2.0])
    mask = torch.tensor([[0.0, 1, 1, 1]])  # position 0 is a special token
    with torch.no_grad():
        a9 = sae.encode(x)[..., 9]
    out, _ = run(sae, SteerSpec(7, 2.5, when=(4, 1.0)), SteerSpec(11, -1.0), SteerSpec(9, 4.0, method="clamp",
                 when=(4, 1.0)), x=x, mask=mask)
    v7, v11, v9 = (sae.W_dec[i].detach() for i in (7, 11, 9))
    gate = torch.tensor([0.0, 1, 0, 1])
    expected = x + mask[..., None] * (-1.0 * v11 + gate[None, :, None] * (2.5 * v7 + (4.0 - a9)[..., None] * v9))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_a_condition_on_a_topk_sae_reads_the_topk_activation(x):
    sae = random_sae(arch="topk", k=8)
    with torch.no_grad():
        acts = sae.encode(x)
    g = int(acts[0, 0].argmax())
    fires = acts[0, :, g] > 0
    assert fires.any() and (~fires).any()
    out, tap = run(sae, SteerSpec(3, 1.5, when=(g, 0.0)), x=x)
    expected = x + fires[None, :, None].float() * 1.5 * sae.W_dec[3].detach()
    torch.testing.assert_close(out, expected)
    with torch.no_grad():
        vals, _ = sae.encode(out)[0].topk(4, dim=-1)
    torch.testing.assert_close(tap.last.top_vals, vals, atol=1e-4, rtol=1e-4)


def test_bad_conditions_are_refused_before_anything_runs():
    sae = random_sae()
    with pytest.raises(SteeringError, match="condition feature 999"):
        plan_steering(SteeringConfig((SteerSpec(1, 1.0, when=(999, 0.1)),)), sae)
    with pytest.raises(SteeringError, match="statistics for feature 3"):
        plan_steering(SteeringConfig((SteerSpec(1, 1.0, when=(3, 0.1), when_unit="max"),)), sae)
    with pytest.raises(SteeringError, match="condition"):
        SteerSpec(1, 1.0, when=(-2, 0.1))
    with pytest.raises(SteeringError, match="condition"):
        SteerSpec(1, 1.0, when=(2, float("inf")))
    assert resolve_threshold(0.5, "max", 4.0) == 2.0 and resolve_threshold(0.5, "max", None) is None


# --- text forms: --steer and presets ---------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("12=3:cap", SteerSpec(12, 3.0, method="cap")),
    ("12=0.5x:projection_cap", SteerSpec(12, 0.5, "max", "cap")),
    ("12=8x:add@5>0.3x", SteerSpec(12, 8.0, "max", "add", when=(5, 0.3), when_unit="max")),
    ("12=8@5>1.5", SteerSpec(12, 8.0, when=(5, 1.5))),
    ("3=2:clamp@7>0", SteerSpec(3, 2.0, method="clamp", when=(7, 0.0))),
])
def test_parse_steer_cap_and_conditions(text, expected):
    assert parse_steer(text) == expected


@pytest.mark.parametrize("text", ["12=8@5", "12=8@x>1", "12=8@5>", "12=8:cap@5>1:add"])
def test_parse_steer_rejects_bad_conditions(text):
    with pytest.raises(SteeringError, match="expected|unknown"):
        parse_steer(text)


def test_presets_keep_caps_and_conditions_and_check_them_against_the_sae():
    sae = with_stats(random_sae())
    specs = (SteerSpec(3, 0.5, "max", "cap"), SteerSpec(7, 2.0, when=(4, 0.25), when_unit="max"),
             SteerSpec(-1, 1.0, "raw", "cap", label="v", vector=tuple([0.5] * 64), when=(9, 1.0)))
    p = Preset("p", SteeringConfig(specs))
    back = parse_preset(preset_to_json(p))
    assert back.steering.features == specs
    ident = sae_identity(sae)
    check_preset(back, ident, sae.stats.max_activation)
    no_stats = np.zeros(256, np.float32)
    with pytest.raises(PresetError, match="condition on feature 4"):
        check_preset(Preset("q", SteeringConfig(specs[1:2])), ident, no_stats)
    bad = preset_to_json(p).replace('"above": 1.0', '"above": "high"')
    with pytest.raises(PresetError, match="when.above"):
        parse_preset(bad)
    with pytest.raises(PresetError, match="condition feature 300"):
        check_preset(Preset("r", SteeringConfig((SteerSpec(1, 1.0, when=(300, 0.0)),))), ident)
