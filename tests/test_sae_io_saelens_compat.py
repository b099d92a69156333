"""What save_sae writes so that SAELens computes the same SAE (packaging/interop/check_saelens.py checks it against
SAELens itself): a gated SAE without the unused b_enc, and an input scaling folded into the weights."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from desktop_sae.core.sae.formats import load_sae, save_sae
from tiny import random_sae


def _same_maths(a, b, x):
    with torch.no_grad():
        acts_a, acts_b = a.encode(x), b.encode(x)
        torch.testing.assert_close(acts_a, acts_b, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a.decode(acts_a, like=x), b.decode(acts_b, like=x), rtol=1e-5, atol=1e-4)


def test_a_gated_sae_is_written_without_b_enc_and_old_files_still_load(tmp_path):
    sae = random_sae(arch="gated")
    folder = save_sae(sae, tmp_path / "gated")
    with safe_open(folder / "sae_weights.safetensors", "pt") as f:
        assert set(f.keys()) == {"W_enc", "W_dec", "b_dec", "b_gate", "b_mag", "r_mag"}
    x = torch.randn(16, 64)
    _same_maths(sae, load_sae(folder), x)
    old = {n: getattr(sae, n).detach() for n in ("W_enc", "W_dec", "b_dec", "b_gate", "b_mag", "r_mag")}
    save_file({**old, "b_enc": torch.zeros(256)}, str(folder / "sae_weights.safetensors"))  # as written before
    _same_maths(sae, load_sae(folder), x)


@pytest.mark.parametrize("arch", ["topk", "standard", "jumprelu", "gated"])
@pytest.mark.parametrize("b_dec_in", [True, False])
def test_an_input_scaling_is_folded_into_the_weights(tmp_path, arch, b_dec_in):
    sae = random_sae(arch=arch, normalize_activations="expected_average_only_in", scaling_factor=0.3,
                     apply_b_dec_to_input=b_dec_in)
    folder = save_sae(sae, tmp_path / "s")
    cfg = json.loads((folder / "cfg.json").read_text())
    assert cfg["normalize_activations"] == "none" and "scaling_factor" not in cfg
    back = load_sae(folder)
    assert back.cfg.scaling_factor == 1.0
    _same_maths(sae, back, torch.randn(32, 64) * 5 + 1)


def test_a_decoder_norm_rescaling_topk_keeps_its_factor(tmp_path):
    sae = random_sae(arch="topk", normalize_activations="expected_average_only_in", scaling_factor=0.3,
                     rescale_acts_by_decoder_norm=True)
    back = load_sae(save_sae(sae, tmp_path / "r"))
    assert back.cfg.scaling_factor == pytest.approx(0.3)
    assert back.cfg.normalize_activations == "expected_average_only_in"
    _same_maths(sae, back, torch.randn(32, 64))
