"""SAE formats: SAELens v6 round trip, pre-6.0 configs, Gemma Scope, EleutherAI sparsify, and every bad file."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from desktop_sae.core.engine.session import Session
from desktop_sae.core.sae.formats import load_sae, save_sae
from desktop_sae.core.sae.sae_config import FeatureStats
from desktop_sae.core.support.errors import SAEFormatError, SAEMismatchError
from tiny import random_sae, tiny_lm


def test_saelens_round_trip_bit_exact(tmp_path):
    sae = random_sae(arch="topk", k=8, model_name="tiny-llama", metadata={"model_sha256": "ab" * 32})
    sae.stats = FeatureStats(np.linspace(1, 2, 256, dtype=np.float32), np.full(256, 0.5, np.float32),
                             np.full(256, 0.01, np.float32))
    save_sae(sae, tmp_path / "sae")
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text())
    assert cfg["architecture"] == "topk" and cfg["k"] == 8
    assert cfg["metadata"]["hook_name"] == "blocks.1.hook_resid_post"
    back = load_sae(tmp_path / "sae")
    assert back.source_format == "saelens" and back.cfg.k == 8 and back.cfg.model_name == "tiny-llama"
    assert back.cfg.metadata["model_sha256"] == "ab" * 32
    for name in sae.tensor_names():
        assert torch.equal(getattr(sae, name), getattr(back, name)), name
    np.testing.assert_array_equal(back.stats.max_activation, sae.stats.max_activation)
    x = torch.randn(4, 64)
    with torch.no_grad():
        assert torch.equal(sae.encode(x), back.encode(x))


@pytest.mark.parametrize("arch", ["standard", "jumprelu", "gated"])
def test_saelens_round_trip_other_architectures(tmp_path, arch):
    sae = random_sae(arch=arch)
    back = load_sae(save_sae(sae, tmp_path / arch))
    for name in sae.tensor_names():
        assert torch.equal(getattr(sae, name), getattr(back, name))


def test_pre_v6_config(tmp_path):
    sae = random_sae(arch="topk", k=8)
    save_sae(sae, tmp_path)
    old = {"d_in": 64, "d_sae": 256, "hook_point": "blocks.2.hook_resid_pre", "hook_point_layer": 2,
           "activation_fn_str": "topk", "activation_fn_kwargs": {"k": 8}, "model_name": "gpt2-small",
           "apply_b_dec_to_input": True, "normalize_activations": "none", "context_size": 128}
    (tmp_path / "cfg.json").write_text(json.dumps(old))
    back = load_sae(tmp_path)
    assert back.cfg.architecture == "topk" and back.cfg.k == 8
    assert back.cfg.hook_name == "blocks.2.hook_resid_pre" and back.cfg.model_name == "gpt2-small"
    assert back.cfg.metadata["context_size"] == 128


def test_gemma_scope_npz(tmp_path):
    sae = random_sae(arch="jumprelu", apply_b_dec_to_input=False)
    folder = tmp_path / "gemma-scope-2b-pt-res" / "layer_1" / "width_16k" / "average_l0_10"
    folder.mkdir(parents=True)
    np.savez(folder / "params.npz", **{n: getattr(sae, n).detach().numpy() for n in sae.tensor_names()})
    back = load_sae(folder / "params.npz")
    assert back.source_format == "gemmascope" and back.cfg.architecture == "jumprelu"
    assert back.cfg.apply_b_dec_to_input is False and back.cfg.hook_name == "blocks.1.hook_resid_post"
    x = torch.randn(3, 64)
    with torch.no_grad():
        torch.testing.assert_close(back.encode(x), sae.encode(x))


def test_npz_with_pickled_objects_is_refused(tmp_path):
    np.savez(tmp_path / "params.npz", W_enc=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(SAEFormatError, match="pickled"):
        load_sae(tmp_path / "params.npz")


def test_sparsify_folder(tmp_path):
    g = torch.Generator().manual_seed(3)
    enc_w, enc_b = torch.randn(128, 64, generator=g), torch.randn(128, generator=g) * 0.1
    W_dec, b_dec = torch.randn(128, 64, generator=g), torch.randn(64, generator=g) * 0.1
    folder = tmp_path / "layers.1"
    folder.mkdir()
    save_file({"encoder.weight": enc_w, "encoder.bias": enc_b, "W_dec": W_dec, "b_dec": b_dec},
              folder / "sae.safetensors")
    cfg = {"expansion_factor": 2, "normalize_decoder": True, "num_latents": 0, "k": 4, "d_in": 64}
    (folder / "cfg.json").write_text(json.dumps(cfg))
    sae = load_sae(folder)
    assert sae.source_format == "sparsify" and sae.cfg.d_sae == 128 and sae.cfg.hook_name == "blocks.1.hook_resid_post"
    x = torch.randn(6, 64, generator=g)
    pre = torch.relu((x - b_dec) @ enc_w.T + enc_b)
    vals, idx = pre.topk(4, dim=-1)
    expected = torch.zeros_like(pre).scatter_(-1, idx, vals)
    with torch.no_grad():
        torch.testing.assert_close(sae.encode(x), expected)
        torch.testing.assert_close(sae.decode(expected), expected @ W_dec + b_dec)


# --- bad files -----------------------------------------------------------------------------------
@pytest.fixture
def good(tmp_path):
    return save_sae(random_sae(arch="topk", k=8), tmp_path / "good")


def test_missing_path(tmp_path):
    with pytest.raises(SAEFormatError, match="not found"):
        load_sae(tmp_path / "nope")


def test_folder_without_sae(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(SAEFormatError, match="no SAE in"):
        load_sae(tmp_path)


def test_wrong_file_type(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"\x80\x04junk")
    with pytest.raises(SAEFormatError, match="not an SAE file"):
        load_sae(tmp_path / "model.bin")


def test_invalid_json(good):
    (good / "cfg.json").write_text("{not json")
    with pytest.raises(SAEFormatError, match="not valid JSON"):
        load_sae(good)


def test_missing_cfg(good):
    (good / "cfg.json").unlink()
    with pytest.raises(SAEFormatError, match="missing cfg.json"):
        load_sae(good)


def test_truncated_weights(good):
    w = good / "sae_weights.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(SAEFormatError, match="damaged or not a safetensors file"):
        load_sae(good)


def test_missing_tensor(good):
    save_file({"W_enc": torch.zeros(64, 256), "W_dec": torch.zeros(256, 64), "b_dec": torch.zeros(64)},
              good / "sae_weights.safetensors")
    with pytest.raises(SAEFormatError, match="missing tensor.*b_enc"):
        load_sae(good)


def test_wrong_shape_names_the_numbers(good):
    save_file({"W_enc": torch.zeros(64, 255), "W_dec": torch.zeros(256, 64), "b_enc": torch.zeros(256),
               "b_dec": torch.zeros(64)}, good / "sae_weights.safetensors")
    with pytest.raises(SAEFormatError, match=r"W_enc has shape \(64, 255\), expected \(64, 256\)"):
        load_sae(good)


def test_nan_weights(good):
    t = {"W_enc": torch.zeros(64, 256), "W_dec": torch.zeros(256, 64), "b_enc": torch.zeros(256),
         "b_dec": torch.zeros(64)}
    t["b_dec"][3] = float("nan")
    save_file(t, good / "sae_weights.safetensors")
    with pytest.raises(SAEFormatError, match="NaN"):
        load_sae(good)


@pytest.mark.parametrize("patch,msg", [
    ({"architecture": "crosscoder"}, "not supported"),
    ({"architecture": "transcoder"}, "a transcoder needs a positive integer d_out"),
    ({"k": None}, "needs an integer k"),
    ({"d_in": "64"}, "'d_in' must be a positive integer"),
    ({"normalize_activations": "whiten"}, "not supported"),
])
def test_bad_config_values(good, patch, msg):
    cfg = json.loads((good / "cfg.json").read_text())
    cfg.update(patch)
    (good / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(SAEFormatError, match=msg):
        load_sae(good)


def test_width_mismatch_with_model():
    session = Session(tiny_lm())
    with pytest.raises(SAEMismatchError, match=r"d_in=32 does not match tiny-llama's residual width 64"):
        session.attach_sae(random_sae(d_in=32))
    assert session.sae is None  # nothing applied half-way


def test_hook_layer_out_of_range():
    session = Session(tiny_lm())
    with pytest.raises(SAEMismatchError, match=r"layer 7 is out of range, the model has layers 0\.\.2"):
        session.attach_sae(random_sae(hook="blocks.7.hook_resid_post"))


def test_sae_without_hook_name():
    with pytest.raises(SAEMismatchError, match="which hook point"):
        Session(tiny_lm()).attach_sae(random_sae(hook=""))


def test_other_model_gives_a_warning_not_an_error():
    session = Session(tiny_lm())
    warnings = session.attach_sae(random_sae(model_name="gemma-2-2b"))
    assert session.sae is not None and any("gemma-2-2b" in w for w in warnings)
