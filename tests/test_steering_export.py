"""Steering taken out of the app (core/interop/steering_export.py, llamacpp_control_vector.py): the llama.cpp
control-vector GGUF read back with gguf's own reader, the safetensors round trip, the layer mapping and refusals."""

import json

import gguf
import numpy as np
import pytest
import torch

from desktop_sae.core.engine.sae_tap import SAETap
from desktop_sae.core.interop.llamacpp_control_vector import read_control_vector, write_control_vector
from desktop_sae.core.interop.steering_export import (
    ExportFormat,
    build_export,
    llamacpp_layer,
    write_export,
)
from desktop_sae.core.presets.identity import sae_identity
from desktop_sae.core.steering.plan import plan_steering
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec, weighted_rows
from desktop_sae.core.steering.vectors import SteeringVector, load_vector
from desktop_sae.core.support.errors import HookPointError, SteeringError
from tiny import random_sae, with_stats

MAX_ACT = 2.0
HOOK = "blocks.3.hook_resid_post"


@pytest.fixture(scope="module")
def sae():
    return with_stats(random_sae(hook=HOOK), MAX_ACT)


def export_of(sae, cfg, hook=HOOK, name="test set"):
    return build_export(cfg, sae, hook=hook, model="tiny-llama", identity=sae_identity(sae), name=name)


def mixed(multiplier=2.0):
    """Two features (one in × max activation), a vector row and a disabled row."""
    v = SteeringVector.from_array("mean diff", np.linspace(-1, 1, 64))
    rows = (SteerSpec(12, 1.5, "max"), SteerSpec(40, -0.5), v.spec(-1, 0.25), SteerSpec(7, 9.0, enabled=False))
    return SteeringConfig(rows, multiplier), np.linspace(-1, 1, 64)


def test_the_gguf_holds_one_float32_direction_that_is_the_sum_of_strength_times_decoder_row(sae, tmp_path):
    cfg, v = mixed()
    W = sae.W_dec.detach().numpy().astype(np.float64)
    expected = 2.0 * (1.5 * MAX_ACT * W[12] - 0.5 * W[40] + 0.25 * v)  # disabled feature 7 is left out
    path = write_export(export_of(sae, cfg), tmp_path / "cv.gguf")
    r = gguf.GGUFReader(str(path))
    assert [t.name for t in r.tensors] == ["direction.3"]
    t = r.tensors[0]
    assert t.tensor_type == gguf.GGMLQuantizationType.F32 and list(t.shape) == [64]
    np.testing.assert_allclose(np.asarray(t.data, dtype=np.float64), expected, rtol=1e-5, atol=1e-6)
    assert r.get_field("general.architecture").contents() == "controlvector"
    assert r.get_field("controlvector.model_hint").contents() == "tiny-llama"
    assert r.get_field("controlvector.layer_count").contents() == 1
    rec = json.loads(r.get_field("desktop_sae.export").contents())
    assert rec["features"] == [12, 40, -1] and rec["strengths"] == [1.5, -0.5, 0.25]
    assert rec["units"] == ["max", "raw", "raw"] and rec["coefficients"] == [6.0, -1.0, 0.5]
    assert rec["hook"] == HOOK and rec["llamacpp_layer"] == 3 and rec["sae_d_sae"] == 256
    assert rec["sae_fingerprint"] == sae_identity(sae).fingerprint and rec["app_skips_special_tokens"] is True


def test_the_direction_is_exactly_what_the_apps_tap_adds(sae):
    cfg, _ = mixed(multiplier=-1.3)
    e = export_of(sae, cfg)
    x = torch.randn(1, 6, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = SAETap(sae, plan_steering(cfg, sae, None), top_k=4)(x)
    torch.testing.assert_close(out - x, torch.from_numpy(e.direction).expand_as(x), rtol=0, atol=1e-6)


def test_a_weighted_set_is_summed_member_by_member(sae):
    rows = weighted_rows(SteerSpec(0, 0.8, "max", label="set"), [(5, 1.0), (9, 0.5), (77, 0.25)])
    e = export_of(sae, SteeringConfig(rows))
    W = sae.W_dec.detach().numpy()
    np.testing.assert_allclose(e.direction, 0.8 * MAX_ACT * (W[5] + 0.5 * W[9] + 0.25 * W[77]), rtol=1e-5, atol=1e-6)
    assert [r.label for r in e.rows] == ["set (1 of 3)", "set (2 of 3)", "set (3 of 3)"]


def test_the_control_vector_reads_back_with_llamacpp_rules(sae, tmp_path):
    e = export_of(sae, SteeringConfig((SteerSpec(3, 4.0),)))
    f = read_control_vector(write_export(e, tmp_path / "cv.gguf", ExportFormat.GGUF))
    assert list(f.directions) == [3] and f.n_embd == 64 and f.layer_count == 1 and f.model_hint == "tiny-llama"
    np.testing.assert_array_equal(f.directions[3], e.direction)
    assert f.export["name"] == "test set"


def test_the_reader_refuses_what_llamacpp_refuses(tmp_path):
    def write(name, tensors, arch="controlvector"):
        w = gguf.GGUFWriter(str(tmp_path / name), arch)
        for n, a in tensors:
            w.add_tensor(n, a)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return tmp_path / name

    ones = np.ones(8, np.float32)
    with pytest.raises(SteeringError, match=r"'direction.0' is not direction.N with N >= 1"):
        read_control_vector(write("zero.gguf", [("direction.0", ones)]))
    with pytest.raises(SteeringError, match="direction.2 must be a 1-D float32 tensor"):
        read_control_vector(write("f16.gguf", [("direction.2", ones.astype(np.float16))]))
    with pytest.raises(SteeringError, match="direction.2 has 4 values, the others another width"):
        read_control_vector(write("width.gguf", [("direction.1", ones), ("direction.2", ones[:4])]))
    with pytest.raises(SteeringError, match="a GGUF for 'llama', not a control vector"):
        read_control_vector(write("model.gguf", [("direction.1", ones)], arch="llama"))
    with pytest.raises(SteeringError, match="no direction tensors"):
        read_control_vector(write("empty.gguf", []))
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf at all")
    with pytest.raises(SteeringError, match="junk.gguf is not a GGUF file"):
        read_control_vector(tmp_path / "junk.gguf")


def test_safetensors_round_trip_steers_the_same(sae, tmp_path):
    cfg, _ = mixed()
    e = export_of(sae, cfg)
    v = load_vector(write_export(e, tmp_path / "set.safetensors"))
    assert v.name == "test set" and v.hook == HOOK and v.model == "tiny-llama"
    assert v.meta["features"] == [12, 40, -1] and v.meta["llamacpp_layer"] == 3
    assert "feature 12 × 6" in v.source
    again = plan_steering(SteeringConfig((v.spec(-1, 1.0),)), sae)
    assert again.add_vec is not None
    np.testing.assert_array_equal(again.add_vec.numpy(), e.direction)


@pytest.mark.parametrize(("hook", "layer"), [("blocks.3.hook_resid_post", 3), ("blocks.1.hook_resid_post", 1),
                                             ("blocks.5.hook_resid_pre", 4), ("blocks.2.hook_resid_pre", 1)])
def test_the_hook_maps_to_the_block_whose_output_it_is(hook, layer):
    assert llamacpp_layer(hook) == layer


@pytest.mark.parametrize(("hook", "message"), [
    ("blocks.0.hook_resid_post", "is the output of block 0, which llama.cpp never steers"),
    ("blocks.1.hook_resid_pre", "is the output of block 0, which llama.cpp never steers"),
    ("blocks.0.hook_resid_pre", "is the embeddings, which llama.cpp never steers"),
    ("blocks.4.hook_attn_out", "also changes the MLP's input in the same block"),
    ("blocks.4.hook_mlp_out", "export an SAE trained on the residual stream"),
])
def test_hooks_llamacpp_cannot_steer_are_refused(hook, message):
    with pytest.raises(SteeringError, match=message):
        llamacpp_layer(hook)


def test_a_bad_hook_name_is_refused():
    with pytest.raises(HookPointError, match="bad hook point"):
        llamacpp_layer("layers.3.output")


def test_non_additive_and_conditional_rows_are_refused_by_name_and_nothing_is_written(sae, tmp_path):
    rows = (SteerSpec(1, 2.0), SteerSpec(2, 3.0, method="clamp", label="pinned"), SteerSpec(3, 0.5, method="orth"),
            SteerSpec(4, 1.0, method="cap"), SteerSpec(5, 2.0, when=(9, 0.5), when_unit="max"),
            SteerSpec(6, 1.0, method="clamp", enabled=False))
    out = tmp_path / "old.gguf"
    out.write_bytes(b"the previous export")
    with pytest.raises(SteeringError) as err:
        write_export(export_of(sae, SteeringConfig(rows)), out)
    msg = str(err.value)
    assert msg.startswith("only additive steering can be exported as a fixed vector")
    assert ("feature 2 'pinned' (clamp); feature 3 (orth); feature 4 (cap); feature 5 (only where feature 9 is above "
            "0.5x)") in msg
    assert "feature 6" not in msg and "feature 1 " not in msg  # a disabled row is not steering; an add row is fine
    assert out.read_bytes() == b"the previous export"


def test_nothing_switched_on_is_refused(sae):
    with pytest.raises(SteeringError, match="no steering row is switched on"):
        export_of(sae, SteeringConfig((SteerSpec(1, 2.0, enabled=False),)))


def test_a_vector_of_another_width_is_refused(sae):
    v = SteeringVector.from_array("short", np.ones(10))
    with pytest.raises(SteeringError, match="has 10 dimensions, but this SAE's hook has 64"):
        export_of(sae, SteeringConfig((v.spec(-1, 1.0),)))


def test_the_format_follows_the_suffix(tmp_path):
    assert ExportFormat.of_path("a/b.GGUF") is ExportFormat.GGUF
    assert ExportFormat.of_path("x.safetensors") is ExportFormat.SAFETENSORS
    with pytest.raises(SteeringError, match=r"x.json: export to a .gguf \(llama.cpp control vector\)"):
        ExportFormat.of_path("x.json")


def test_the_gguf_writer_refuses_layer_zero(tmp_path):
    with pytest.raises(SteeringError, match="no control-vector layer 0"):
        write_control_vector(tmp_path / "z.gguf", 0, np.ones(4), "m")
    assert not (tmp_path / "z.gguf").exists()
