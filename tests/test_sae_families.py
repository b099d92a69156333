"""Gemma Scope 2, Qwen Scope and mwhanna's transcoders, written in their released layouts (sae_family_fixtures.py),
open with ``load_sae`` and encode/decode as the maths written out here from the raw arrays says; bad files are
refused with a message; the committed comparison against SAELens says every family passed."""

import json
import os
from pathlib import Path

import pytest
import torch

from desktop_sae.core.sae.formats import detect_format, load_sae, save_sae
from desktop_sae.core.support.errors import SAEFormatError
from sae_family_fixtures import FAMILIES, INPUT_SCALE, write_gemmascope2, write_mwhanna, write_qwenscope

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "interop" / "check_saelens_families.json"


def _jumprelu(pre, threshold):
    return torch.relu(pre) * (pre > threshold).float()


def _topk(pre, k):
    keep = pre.topk(k, dim=-1).indices
    return torch.zeros_like(pre).scatter(-1, keep, torch.relu(pre.gather(-1, keep)))


def expected(name, raw, x):
    """(features, output) from the file's own arrays, in the file's own orientation."""
    if name.startswith("gemma-scope-2"):
        acts = _jumprelu(x @ raw["w_enc"] + raw["b_enc"], raw["threshold"])
        out = acts @ raw["w_dec"] + raw["b_dec"]
        return acts, out + x @ raw["affine_skip_connection"] if "affine_skip_connection" in raw else out
    if name == "qwen-scope":  # W_enc [d_sae, d_in], W_dec [d_in, d_sae]; no b_dec on the input
        acts = _topk(x @ raw["W_enc"].T + raw["b_enc"], 8)
        return acts, acts @ raw["W_dec"].T + raw["b_dec"]
    acts = torch.relu(x @ raw["W_enc"].T + raw["b_enc"])  # mwhanna: W_enc [d_sae, d_in], W_dec [d_sae, d_out]
    return acts, acts @ raw["W_dec"] + raw["b_dec"]


WANT = {  # architecture, hook read, hook written, format
    "gemma-scope-2 resid_post": ("jumprelu", "blocks.12.hook_resid_post", "blocks.12.hook_resid_post", "gemmascope2"),
    "gemma-scope-2 mlp_out": ("jumprelu", "blocks.12.hook_mlp_out", "blocks.12.hook_mlp_out", "gemmascope2"),
    "gemma-scope-2 attn_out": ("jumprelu", "blocks.12.attn.hook_z", "blocks.12.attn.hook_z", "gemmascope2"),
    "gemma-scope-2 transcoder": ("jumprelu_transcoder", "blocks.12.hook_mlp_in", "blocks.12.hook_mlp_out",
                                 "gemmascope2"),
    "gemma-scope-2 affine transcoder": ("jumprelu_skip_transcoder", "blocks.12.hook_mlp_in", "blocks.12.hook_mlp_out",
                                        "gemmascope2"),
    "qwen-scope": ("topk", "blocks.5.hook_resid_post", "blocks.5.hook_resid_post", "qwenscope"),
    "mwhanna transcoder": ("transcoder", "blocks.5.hook_mlp_in", "blocks.5.hook_mlp_out", "mwhanna"),
}


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_each_family_loads_and_computes_the_written_out_maths(tmp_path, family):
    path, raw = family.write(tmp_path, False)
    sae = load_sae(path)
    arch, hook_in, hook_out, fmt = WANT[family.name]
    assert (sae.cfg.architecture, sae.input_hook, sae.output_hook, sae.source_format) == (arch, hook_in, hook_out, fmt)
    assert not sae.cfg.apply_b_dec_to_input and sae.cfg.normalize_activations == "none"
    x = torch.randn(512, sae.cfg.d_in, generator=torch.Generator().manual_seed(7)) * INPUT_SCALE
    want_acts, want_out = expected(family.name, raw, x)
    with torch.no_grad():
        acts = sae.encode(x)
        out = sae.decode(acts, like=x)
        recon, acts2 = sae(x)
    assert (want_acts > 0).any(1).all() and (want_acts == 0).any(1).all()  # features that fire, and that do not
    if "threshold" in raw:  # and features above zero that their threshold keeps silent
        pre = x @ raw["w_enc"] + raw["b_enc"]
        assert ((pre > 0) & (pre <= raw["threshold"])).any()
    torch.testing.assert_close(acts, want_acts, rtol=1e-5, atol=1e-5 * float(want_acts.abs().max()))
    torch.testing.assert_close(out, want_out, rtol=1e-5, atol=1e-5 * float(want_out.abs().max()))
    torch.testing.assert_close(recon, out, rtol=0, atol=0)
    assert sae.output_width == want_out.shape[-1]


def test_models_and_widths_are_named_as_saelens_names_them(tmp_path):
    gs, _ = write_gemmascope2(tmp_path, "transcoder", 16, 64, d_out=12)
    tc = load_sae(gs)
    assert (tc.cfg.model_name, tc.cfg.d_in, tc.cfg.d_sae, tc.cfg.d_out) == ("google/gemma-3-270m-it", 16, 64, 12)
    assert tc.cfg.metadata["hf_hook_name"] == "model.layers.12.pre_feedforward_layernorm.output"
    assert tc.cfg.metadata["hf_hook_name_out"] == "model.layers.12.post_feedforward_layernorm.output"
    res, _ = write_gemmascope2(tmp_path / "b", "resid_post", 16, 64, config=False)
    assert load_sae(res / "params.safetensors").cfg.model_name == "google/gemma-3-270m-it"  # from the folder name
    mw, _ = write_mwhanna(tmp_path, 16, 64)
    assert load_sae(mw).cfg.model_name == "Qwen/Qwen3-0.6B"
    assert load_sae(write_mwhanna(tmp_path / "c", 16, 64, base_config=False)[0]).cfg.model_name == "Qwen/Qwen3-0.6B"
    qs, _ = write_qwenscope(tmp_path, 16, 1024, repo="Qwen/SAE-Res-TinyQwen-W1K-L0_8")
    q = load_sae(qs)
    assert (q.cfg.k, q.cfg.d_sae, q.cfg.model_name) == (8, 1024, "Qwen/TinyQwen")


def test_an_affine_transcoder_without_a_config_is_known_by_its_folder_name(tmp_path):
    path, raw = write_gemmascope2(tmp_path, "transcoder", 16, 64, affine=True, config=False)
    sae = load_sae(path)
    assert sae.cfg.architecture == "jumprelu_skip_transcoder"
    torch.testing.assert_close(sae.W_skip, raw["affine_skip_connection"].T, rtol=0, atol=0)  # stored [d_in, d_out]
    x = torch.randn(4, 16)
    with torch.no_grad():  # decode without the input is the decoder alone (as SAELens's decode); with it, + skip
        acts = sae.encode(x)
        torch.testing.assert_close(sae.decode(acts, like=x) - sae.decode(acts), x @ raw["affine_skip_connection"])


def test_a_transcoder_saved_as_saelens_reads_back_with_its_hooks(tmp_path):
    path, _ = write_gemmascope2(tmp_path, "transcoder", 16, 64, d_out=12, affine=True)
    sae = load_sae(path)
    save_sae(sae, tmp_path / "saved")
    cfg = json.loads((tmp_path / "saved" / "cfg.json").read_text())
    assert (cfg["architecture"], cfg["d_out"], cfg["metadata"]["hook_name_out"]) == (
        "jumprelu_skip_transcoder", 12, "blocks.12.hook_mlp_out")
    back = load_sae(tmp_path / "saved")
    assert (back.input_hook, back.output_hook, back.output_width) == (sae.input_hook, sae.output_hook, 12)
    for name in sae.tensor_names():
        torch.testing.assert_close(getattr(back, name), getattr(sae, name), rtol=0, atol=0)
    cfg["metadata"]["hook_name"] = "blocks.3.mlp.hook_in"  # TransformerLens's name for the MLP's input
    (tmp_path / "saved" / "cfg.json").write_text(json.dumps(cfg))
    assert load_sae(tmp_path / "saved").input_hook == "blocks.3.hook_mlp_in"


def test_gemma_scope_2_problems_are_named(tmp_path):
    path, raw = write_gemmascope2(tmp_path, "transcoder", 16, 64, affine=True)
    (path / "config.json").write_text(json.dumps({"architecture": "jump_relu", "affine_connection": False}))
    with pytest.raises(SAEFormatError, match="affine_skip_connection, but its configuration says"):
        load_sae(path)
    (path / "config.json").write_text(json.dumps({"architecture": "topk"}))
    with pytest.raises(SAEFormatError, match="Gemma Scope 2 SAEs are JumpReLU"):
        load_sae(path)
    odd = tmp_path / "elsewhere" / "my_sae"
    odd.mkdir(parents=True)
    (path / "params.safetensors").rename(odd / "params.safetensors")
    with pytest.raises(SAEFormatError, match="cannot tell its hook point"):
        load_sae(odd)
    assert detect_format(odd) == ("gemmascope2", odd)


def test_qwen_scope_needs_its_repository_name_and_matching_widths(tmp_path):
    path, _ = write_qwenscope(tmp_path, 16, 1024, repo="Qwen/SAE-Res-TinyQwen-W1K-L0_8")
    moved = tmp_path / "somewhere" / "layer5.sae.pt"
    moved.parent.mkdir()
    path.rename(moved)
    with pytest.raises(SAEFormatError, match=r"named only by its repository \(SAE-Res-<model>-W<width>K-L0_<k>\)"):
        load_sae(moved)
    wrong, _ = write_qwenscope(tmp_path, 16, 1024, repo="Qwen/SAE-Res-Qwen3-1.7B-Base-W1K-L0_8")
    with pytest.raises(SAEFormatError, match=r"names 1024 features of Qwen/Qwen3-1.7B-Base \(width 2048\)"):
        load_sae(wrong)


def test_a_qwen_scope_file_whose_pickle_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    folder = tmp_path / "SAE-Res-TinyQwen-W1K-L0_8"
    folder.mkdir()
    torch.save({"W_enc": Payload()}, folder / "layer0.sae.pt")
    with pytest.raises(SAEFormatError, match="'posix system'.*pickles can run code"):
        load_sae(folder / "layer0.sae.pt")
    assert not marker.exists()
    (folder / "layer1.sae.pt").write_bytes(b"not a zip")
    with pytest.raises(SAEFormatError, match="damaged or not a torch.save zip"):
        load_sae(folder / "layer1.sae.pt")


def test_mwhanna_config_problems_are_named(tmp_path):
    path, _ = write_mwhanna(tmp_path, 16, 64)
    (path.parent / "wandb-config.yaml").write_text("d_model:\n  value: 16\n")
    with pytest.raises(SAEFormatError, match=r"'d_feature.value' must be a positive integer, got None"):
        load_sae(path)
    (path.parent / "wandb-config.yaml").write_text("d_model: [1, 2\n")
    with pytest.raises(SAEFormatError, match="cannot read .*wandb-config.yaml"):
        load_sae(path)
    (path.parent / "wandb-config.yaml").write_text("d_model:\n  value: 16\nd_feature:\n  value: 32\n")
    with pytest.raises(SAEFormatError, match=r"tensor W_enc has shape \(16, 64\), expected \(16, 32\)"):
        load_sae(path)


def test_the_committed_comparison_with_saelens_passed_for_every_family():
    data = json.loads(RESULTS.read_text())
    results = {r["family"]: r for r in data["results"]}
    assert set(results) == {f.name for f in FAMILIES}
    for f in FAMILIES:
        r = results[f.name]
        assert (r["release"], r["sae_id"]) == (f.release, f.sae_id)
        assert r["ok"] is True and r["rows"] == 2048, f.name
        assert r["max_abs_diff_features"] <= 1e-5 * max(r["max_abs_feature"], 1.0), f.name
        assert r["max_abs_diff_output"] <= 1e-5 * max(r["max_abs_output"], 1.0), f.name
    assert data["summary"]["families_passed"] == f"{len(FAMILIES)}/{len(FAMILIES)}"
