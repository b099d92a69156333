"""Gemma Scope 2, Qwen Scope and mwhanna transcoders downloaded by ``release/id`` from the loopback hub
(tests/hub_server.py), their files laid out as the real hub repositories hold them (the paths SAELens's
pretrained_saes.yaml gives and the files its loaders fetch), then listed, checked against a tiny Llama and opened
on it with their features read; Gemma Scope 2's attn_out SAEs are listed and refused with the reason; imports."""

from pathlib import Path

import numpy as np
import pytest
import torch

import hub_server
from desktop_sae.core.assets import downloads as hd
from desktop_sae.core.assets.compatibility import check_pair
from desktop_sae.core.assets.imports import import_asset
from desktop_sae.core.assets.metadata import model_meta
from desktop_sae.core.assets.opening import open_session
from desktop_sae.core.assets.registry import list_saes
from desktop_sae.core.engine.hooks import capture
from desktop_sae.core.sae.formats import load_sae
from desktop_sae.core.support.errors import SAEMismatchError
from family_hub import QWEN_REPO, family_env, family_hub
from hub_server import MODEL_REPO
from sae_family_fixtures import GEMMA_REPO, MWHANNA_REPO, write_gemmascope2, write_mwhanna, write_qwenscope

fake_hub, hub_env = hub_server.fake_hub, hub_server.hub_env  # the loopback hub's fixtures
__all__ = ["family_env", "family_hub"]  # fixtures

# ref -> (files fetched, path in the repo the registry lists, format, hook read, hook written, d_sae)
CASES = {
    "gemma-scope-2-270m-it-res/layer_1_width_16k_l0_medium": (
        ["resid_post/layer_1_width_16k_l0_medium/config.json",
         "resid_post/layer_1_width_16k_l0_medium/params.safetensors"],
        "resid_post/layer_1_width_16k_l0_medium", "gemmascope2", "blocks.1.hook_resid_post", "", 96),
    "gemma-scope-2-270m-it-transcoders/transcoder/layer_1_width_16k_l0_medium": (
        ["transcoder/layer_1_width_16k_l0_medium/config.json",
         "transcoder/layer_1_width_16k_l0_medium/params.safetensors"],
        "transcoder/layer_1_width_16k_l0_medium", "gemmascope2", "blocks.1.hook_mlp_in", "blocks.1.hook_mlp_out", 80),
    "qwen-scope-tiny/layer1": (["layer1.sae.pt"], "layer1.sae.pt", "qwenscope", "blocks.1.hook_resid_post", "", 1024),
    "mwhanna-tiny-transcoders/layer_1": (["wandb-config.yaml", "config.yaml", "layer_1.safetensors"],
                                         "layer_1.safetensors", "mwhanna", "blocks.1.hook_mlp_in",
                                         "blocks.1.hook_mlp_out", 112),
}


def _fetched(hub) -> list[str]:
    return [p.split("/resolve/", 1)[1].split("/", 1)[1] for m, p in hub.log if m == "GET" and "/resolve/" in p]


@pytest.mark.parametrize("ref", list(CASES))
def test_download_by_release_list_check_and_open_on_a_tiny_llama(family_env, family_hub, ref):
    files, listed, fmt, hook, hook_out, d_sae = CASES[ref]
    family_hub.log.clear()
    res = hd.download_release_sae(ref)
    assert list(res.files) == files and _fetched(family_hub) == files  # its own files only, the SAE's own last
    repo = {"gemmascope2": GEMMA_REPO, "qwenscope": QWEN_REPO, "mwhanna": MWHANNA_REPO}[fmt]
    assert Path(res.path).as_posix().endswith(f"/{listed}")  # a one-file SAE is the file, not the repo's folder

    entry = next(a for a in list_saes() if a.id == f"hub:{repo}/{listed}")
    assert entry.usable and entry.path == res.path and entry.format == fmt
    meta = entry.sae
    assert (meta.d_in, meta.d_sae, meta.hook, meta.hook_out, meta.dtype) == (64, d_sae, hook, hook_out, "float32")
    assert all(f"hub:{repo}/{other}" not in {a.id for a in list_saes()} for other in ("layer2.sae.pt",
                                                                                      "layer_2.safetensors"))
    report = check_pair(model_meta(family_env), meta, model_name=MODEL_REPO)
    assert report.ok, report.text()
    written = f", written at {hook_out}" if hook_out else ""
    where = f"read at {hook}{written}" if hook_out else f"at {hook}"
    assert f"features {where}, stored as float32" in report.text()

    session = open_session(str(family_env), res.path, dtype="float32")
    assert (session.hook_name, session.steer_hook_name) == (hook, hook_out or hook)
    text = "the quick brown fox jumps over the lazy dog"
    _toks, ids, acts = session.encode_text(text)
    sae = load_sae(res.path)
    with torch.no_grad():
        x = capture(session.lm.model, hook, input_ids=torch.tensor([ids]))[0]
        want = sae.encode(x).numpy()
    assert acts.shape == (len(ids), d_sae) and (acts > 0).any()  # features shown
    np.testing.assert_array_equal(acts, want)
    family_hub.log.clear()
    again = hd.download_release_sae(ref)
    assert again.from_cache and again.path == res.path and not _fetched(family_hub)


def test_an_attn_out_sae_is_listed_and_refused_with_the_reason(family_env):
    res = hd.download_release_sae("gemma-scope-2-270m-it-att/layer_1_width_16k_l0_medium")
    entry = next(a for a in list_saes() if a.path == res.path)
    assert entry.usable and entry.sae.hook == "blocks.1.attn.hook_z" and entry.sae.d_in == 64
    report = check_pair(model_meta(family_env), entry.sae)
    assert report.errors == ("the SAE reads 'blocks.1.attn.hook_z': blocks.1.attn.hook_z is the attention heads' "
                             "output before the output projection (TransformerLens' hook_z, as wide as heads x head "
                             "size, where Gemma Scope 2's attn_out SAEs read), a site this app does not hook yet; use "
                             "an SAE at hook_resid_post or hook_mlp_out, or a transcoder",)
    with pytest.raises(SAEMismatchError, match=r"does not fit .*attn.hook_z is the attention heads' output"):
        open_session(str(family_env), res.path, dtype="float32")


def test_the_families_import_from_a_local_copy(tmp_path):
    gs2, _ = write_gemmascope2(tmp_path, "transcoder", 64, 80, layer=1)
    qwen, _ = write_qwenscope(tmp_path, 64, 1024, repo=QWEN_REPO, layer=1)
    mw, _ = write_mwhanna(tmp_path, 64, 112, layer=1)
    a = import_asset(gs2)  # a folder with a config.json: an SAE, not a model
    assert (a.kind, a.format, a.sae.hook, a.sae.hook_out, a.name) == (
        "sae", "gemmascope2", "blocks.1.hook_mlp_in", "blocks.1.hook_mlp_out", "layer_1_width_16k_l0_medium")
    assert import_asset(gs2 / "params.safetensors").path == str(gs2.resolve())  # the folder, imported whole
    b = import_asset(qwen)
    assert (b.kind, b.format, b.sae.d_sae, b.name, b.sae.model_name) == ("sae", "qwenscope", 1024, "layer1",
                                                                          "Qwen/TinyQwen")
    c = import_asset(mw)
    assert (c.format, c.sae.architecture, c.sae.d_out, c.name) == ("mwhanna", "transcoder", 64, "layer_1")
