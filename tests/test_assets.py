"""The model & SAE registry (bundled, cached, imported, trained), importing local files, the SAE directory and the
compatibility report — all from configs and headers, without loading weights and without a network."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import tiny
from desktop_sae.core.assets.compatibility import check_pair
from desktop_sae.core.assets.imports import forget_import, import_asset, imports_path
from desktop_sae.core.assets.metadata import model_meta, sae_meta
from desktop_sae.core.assets.registry import list_models, list_saes
from desktop_sae.core.assets.sae_directory import load_directory, parse_directory, resolve
from desktop_sae.core.support import paths
from desktop_sae.core.support.errors import AssetError

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hf_folder(tmp_path):
    folder = tmp_path / "tiny-llama"
    tiny.tiny_model("llama").save_pretrained(folder)
    tiny.tiny_tokenizer().save_pretrained(folder)
    return folder


def by_id(assets):
    return {a.id: a for a in assets}


# --- reading configs -------------------------------------------------------------------------------------------
def test_model_meta_from_a_folder_and_the_bundled_gguf(hf_folder):
    m = model_meta(hf_folder)
    assert (m.format, m.architecture, m.hidden_size, m.n_layers) == ("hf", "llama", 64, 3)
    assert m.n_params == sum(p.numel() for p in tiny.tiny_model("llama").parameters())  # tied embeddings once
    from desktop_sae.core.engine.model_cache import bundled_gguf_path

    g = model_meta(bundled_gguf_path())
    assert (g.format, g.architecture, g.hidden_size, g.n_layers) == ("gguf", "llama", 576, 30)
    assert 130e6 < g.n_params < 140e6 and g.dtype == "Q4_1"


def test_sae_meta_for_each_format(tmp_path):
    saelens = tiny.save_tiny_sae(tmp_path / "saelens")
    s = sae_meta(saelens)
    assert (s.format, s.d_in, s.d_sae, s.hook, s.architecture) == ("saelens", 64, 256, "blocks.1.hook_resid_post",
                                                                    "topk")
    sparsify = tmp_path / "layers.2.mlp"
    sparsify.mkdir()
    (sparsify / "cfg.json").write_text(json.dumps({"k": 8, "num_latents": 128, "d_in": 64}))
    save_file({"encoder.weight": torch.zeros(128, 64), "encoder.bias": torch.zeros(128),
               "W_dec": torch.zeros(128, 64), "b_dec": torch.zeros(64)}, str(sparsify / "sae.safetensors"))
    s = sae_meta(sparsify)
    assert (s.format, s.d_in, s.d_sae, s.hook) == ("sparsify", 64, 128, "blocks.2.hook_mlp_out")
    gs = tmp_path / "gemma-scope-res" / "layer_2" / "width_1k"
    gs.mkdir(parents=True)
    arrays = {k: np.zeros(shape, np.float32) for k, shape in
              {"W_enc": (64, 96), "W_dec": (96, 64), "b_enc": (96,), "b_dec": (64,), "threshold": (96,)}.items()}
    np.savez(gs / "params.npz", **arrays)
    s = sae_meta(gs / "params.npz")
    assert (s.format, s.d_in, s.d_sae, s.hook, s.architecture) == ("gemmascope", 64, 96, "blocks.2.hook_resid_post",
                                                                    "jumprelu")


# --- import --------------------------------------------------------------------------------------------------
def test_import_each_kind_and_list_it(tmp_path, hf_folder):
    from desktop_sae.core.engine.model_cache import bundled_gguf_path

    sae_dir = tiny.save_tiny_sae(tmp_path / "my-sae")
    gs = tmp_path / "gs"
    gs.mkdir()
    np.savez(gs / "params.npz", W_enc=np.zeros((64, 32), np.float32), W_dec=np.zeros((32, 64), np.float32),
             b_enc=np.zeros(32, np.float32), b_dec=np.zeros(64, np.float32), threshold=np.zeros(32, np.float32))
    a = import_asset(hf_folder, name="My tiny model")
    assert (a.kind, a.source, a.format, a.name) == ("model", "imported", "hf", "My tiny model")
    assert import_asset(bundled_gguf_path()).format == "gguf"
    assert import_asset(sae_dir / "cfg.json").path == str(sae_dir)  # a file in an SAE folder imports the folder
    assert import_asset(gs / "params.npz").name == "gs"
    models, saes = by_id(list_models()), by_id(list_saes())
    assert models[f"imported:{hf_folder}"].model.hidden_size == 64
    assert saes[f"imported:{sae_dir}"].sae.d_sae == 256 and saes[f"imported:{gs / 'params.npz'}"].format == "gemmascope"
    import_asset(hf_folder, name="renamed")  # the same path again: renamed, not duplicated
    recs = json.loads(imports_path().read_text())["imports"]
    assert [r["name"] for r in recs if r["path"] == str(hf_folder)] == ["renamed"]
    assert forget_import(hf_folder) and f"imported:{hf_folder}" not in by_id(list_models())


def test_import_refuses_what_it_cannot_read(tmp_path):
    junk = tmp_path / "notes.bin"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(AssetError, match="is not a model or SAE this app reads. It reads a Hugging Face model"):
        import_asset(junk)
    with pytest.raises(AssetError, match="is not a model or SAE this app reads"):
        import_asset(tmp_path)  # an empty folder
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a gguf at all")
    with pytest.raises(AssetError, match="is not a GGUF file"):
        import_asset(fake)
    broken = tmp_path / "broken-sae"
    broken.mkdir()
    (broken / "cfg.json").write_text('{"d_in": 64, "d_sae": 8}')
    (broken / "sae_weights.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(AssetError, match="looks like a saelens SAE but cannot be used: .*not a safetensors file"):
        import_asset(broken)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    np.savez(pickled / "params.npz", W_enc=np.array([{"x": 1}], dtype=object))
    with pytest.raises(AssetError, match="pickled objects"):
        import_asset(pickled / "params.npz")
    with pytest.raises(AssetError, match="does not exist"):
        import_asset(tmp_path / "nowhere")
    assert not imports_path().exists()  # nothing was registered


def test_a_moved_import_is_listed_with_its_problem_and_a_damaged_list_is_refused(tmp_path):
    import shutil

    sae_dir = tiny.save_tiny_sae(tmp_path / "moving-sae")
    import_asset(sae_dir)
    shutil.rmtree(sae_dir)
    entry = by_id(list_saes())[f"imported:{sae_dir}"]
    assert not entry.usable and "moved or deleted" in entry.problem
    imports_path().write_text("{not json")
    assert not [a for a in list_saes() if a.source == "imported"]
    with pytest.raises(AssetError, match="imports.json is damaged"):
        import_asset(tiny.save_tiny_sae(tmp_path / "other"))


# --- trained and cached --------------------------------------------------------------------------------------
def test_trained_saes_are_every_folder_with_cfg_json_under_data_saes(tmp_path):
    tiny.save_tiny_sae(paths.data_dir() / "saes" / "run-1")
    tiny.save_tiny_sae(paths.data_dir() / "saes" / "group" / "run-2", d_sae=128)
    trained = {a.name: a for a in list_saes() if a.source == "trained"}
    assert trained["run-1"].sae.d_sae == 256 and trained["group/run-2"].sae.d_sae == 128


def make_hf_cache(root, repo_id, src, revision="0123456789abcdef0123456789abcdef01234567"):
    """huggingface_hub's cache layout: models--org--name/{refs/main, snapshots/<rev>/<files and folders>}."""
    import shutil

    repo = root / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(src, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)


def test_the_hub_cache_lists_complete_models_and_sae_folders_only(tmp_path, hf_folder, monkeypatch):
    cache = tmp_path / "hub"
    make_hf_cache(cache, "org/model", hf_folder)
    sae_src = tiny.save_tiny_sae(tmp_path / "src" / "blocks.1.hook_resid_post")
    make_hf_cache(cache, "org/saes", sae_src.parent)
    half = tmp_path / "half"
    half.mkdir()
    (half / "tokenizer.json").write_text("{}")
    (half / "model.safetensors").write_bytes((hf_folder / "model.safetensors").read_bytes())
    make_hf_cache(cache, "org/unfinished", half)  # no config.json: a download that did not end
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    models, saes = by_id(list_models()), by_id(list_saes())
    assert models["hub:org/model"].model.n_layers == 3 and "hub:org/unfinished" not in models
    assert saes["hub:org/saes/blocks.1.hook_resid_post"].sae.d_in == 64
    assert "bundled:sae" in saes and saes["bundled:sae"].sae.hook == "blocks.12.hook_resid_post"


# --- the SAE directory ---------------------------------------------------------------------------------------
def test_the_shipped_directory_lists_the_well_known_releases():
    d = parse_directory((REPO_ROOT / "resources" / "sae_directory.yaml").read_text())
    rel, sae = resolve("gpt2-small-res-jb/blocks.8.hook_resid_pre", d)
    assert (rel.repo_id, sae.path, rel.model_repo) == ("jbloom/GPT2-Small-SAEs-Reformatted", "blocks.8.hook_resid_pre",
                                                       "openai-community/gpt2")
    assert resolve("gemma-scope-2b-pt-res/layer_20/width_16k/average_l0_71", d)[0].repo_id.startswith("google/")
    assert resolve("eleutherai-smollm2-135m-64x/blocks.15.hook_mlp_out", d)[1].path == "layers.15.mlp"


def test_a_user_directory_in_saelens_shape_adds_releases(tmp_path):
    (paths.data_dir() / "pretrained_saes.yaml").write_text(
        "SAE_LOOKUP:\n  my-release:\n    repo_id: me/saes\n    model: gpt2-small\n    conversion_func:\n"
        "    saes:\n      - id: blocks.3.hook_resid_pre\n        path: l3\n        l0: 10.0\n  broken: 3\n")
    rel, sae = resolve("my-release/blocks.3.hook_resid_pre", load_directory())
    assert (rel.repo_id, sae.path) == ("me/saes", "l3")
    with pytest.raises(AssetError, match="unknown SAE release 'nope'; known releases: .*my-release"):
        resolve("nope/x", load_directory())
    with pytest.raises(AssetError, match="give an SAE as RELEASE/SAE_ID"):
        resolve("my-release", load_directory())
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed")
    with pytest.raises(AssetError, match="not valid YAML"):
        load_directory(bad)


# --- the compatibility report ------------------------------------------------------------------------------------
def test_compatibility_errors_warnings_and_notes(hf_folder, tmp_path):
    model = model_meta(hf_folder)
    fits = sae_meta(tiny.save_tiny_sae(tmp_path / "fits"))
    r = check_pair(model, fits, model_name="tiny-llama", free_bytes=8 << 30)
    assert r.ok and not r.warnings and any("needs about" in n for n in r.notes)
    wide = sae_meta(tiny.save_tiny_sae(tmp_path / "wide", d_in=32))
    r = check_pair(model, wide)
    assert not r.ok and r.errors == ("width mismatch: the SAE reads vectors of d_in=32, but tiny-llama has hidden size "
                                     "64; this SAE was made for another model",)
    from dataclasses import replace

    deep = replace(fits, hook="blocks.7.hook_resid_post", model_name="gpt2-small")
    r = check_pair(model, deep, model_name="org/tiny-llama")
    assert r.errors == ("missing layer: the SAE reads layer 7 (blocks.7.hook_resid_post), but org/tiny-llama has "
                        "only 3 layers (0..2)",)
    assert "trained on 'gpt2-small', not on 'org/tiny-llama'" in r.warnings[0]
    assert "cannot be opened" in r.text() and "✖ missing layer" in r.text()
    r = check_pair(model, replace(fits, hook="blocks.1.hook_resid_mid"))
    assert r.errors == ("the SAE reads 'blocks.1.hook_resid_mid', which is not a hook point this app attaches to "
                        "(blocks.<layer>.<site>, site one of hook_resid_pre, hook_resid_post, hook_mlp_out, "
                        "hook_attn_out, hook_mlp_in)",)
    r = check_pair(model, replace(fits, hook="blocks.1.attn.hook_z"))  # Gemma Scope 2's attn_out SAEs
    assert r.errors[0].startswith("the SAE reads 'blocks.1.attn.hook_z': blocks.1.attn.hook_z is the attention "
                                  "heads' output before the output projection") and "does not hook yet" in r.errors[0]
    base = replace(fits, model_name="SmolLM2-135M")
    assert "a relative" in check_pair(model, base, model_name="HuggingFaceTB/SmolLM2-135M-Instruct").warnings[0]
    assert check_pair(model, replace(fits, model_name="gpt2-small"), model_name="openai-community/gpt2").ok
    huge = replace(model, n_params=10**10)
    assert "GiB of GPU memory is free" in check_pair(huge, fits, device="cuda", free_bytes=1 << 30).errors[0]
    cpu = check_pair(huge, fits, device="cpu", free_bytes=1 << 30)
    assert cpu.ok and "loading may fail or swap" in cpu.warnings[0]


def test_free_memory_is_measured():
    from desktop_sae.core.assets.compatibility import free_memory

    dev, free = free_memory("cpu")
    assert dev == "cpu" and free is not None and free > 1 << 20
    if torch.cuda.is_available():
        dev, free = free_memory("cuda")
        assert dev == "cuda" and 0 < free <= torch.cuda.get_device_properties(0).total_memory
