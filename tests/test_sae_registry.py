"""The SAE directory: the built-in subset, the whole registry of an installed sae-lens (read from a folder laid out
like an installed package, whose ``__init__`` must never run), the parsed-file cache, the filter and grouping, the
``desktop-sae releases`` command and the committed reading of the real SAELens file."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from desktop_sae.cli import main
from desktop_sae.core.assets import directory_files
from desktop_sae.core.assets.directory_search import group_by_model, search
from desktop_sae.core.assets.downloads import choose_sae_files, download_release_sae
from desktop_sae.core.assets.sae_directory import (
    DirectorySource,
    hook_hint,
    load_sae_directory,
    parse_directory,
    resolve,
    width_hint,
)
from desktop_sae.core.support.errors import AssetError

ROOT = Path(__file__).resolve().parents[1]

# A few releases written in the shape SAELens 6.x ships (block style, l0 and neuronpedia on the SAEs)
SAELENS_YAML = """\
gemma-scope-2-270m-it-res:
  conversion_func: gemma_3
  model: google/gemma-3-270m-it
  repo_id: google/gemma-scope-2-270m-it
  saes:
  - id: layer_12_width_16k_l0_medium
    path: resid_post/layer_12_width_16k_l0_medium
    l0: 60
    neuronpedia: gemma-3-270m-it/12-gemmascope-2-res-16k
  - id: layer_12_width_262k_l0_small
    path: resid_post/layer_12_width_262k_l0_small
    l0: 20
gemma-scope-2-1b-it-transcoders:
  conversion_func: gemma_3
  model: google/gemma-3-1b-it
  repo_id: google/gemma-scope-2-1b-it
  saes:
  - id: layer_7_width_16k_l0_big_affine
    path: transcoder/layer_7_width_16k_l0_big_affine
    l0: 120
gpt2-small-res-jb:
  conversion_func: null
  model: gpt2-small
  repo_id: jbloom/GPT2-Small-SAEs-Reformatted
  links:
    model: https://huggingface.co/gpt2
  saes:
  - id: blocks.8.hook_resid_pre
    path: blocks.8.hook_resid_pre
    l0: 10.0
    neuronpedia: gpt2-small/8-res-jb
"""


def _installed(tmp_path: Path, yaml_text: str, version: str = "6.54.12") -> Path:
    """A site-packages folder holding sae_lens/ (whose __init__ raises) and its dist-info."""
    site = tmp_path / "site"
    pkg = site / "sae_lens"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('sae_lens must not be imported')\n")
    (pkg / "pretrained_saes.yaml").write_text(yaml_text)
    dist = site / f"sae_lens-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: sae-lens\nVersion: {version}\n")
    return site


@pytest.fixture
def no_saelens(monkeypatch, tmp_path):
    monkeypatch.setenv(directory_files.SAELENS_ENV, "none")
    monkeypatch.setenv("DESKTOP_SAE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def installed(monkeypatch, tmp_path):
    monkeypatch.delenv(directory_files.SAELENS_ENV, raising=False)
    monkeypatch.setenv("DESKTOP_SAE_CACHE_DIR", str(tmp_path / "cache"))
    site = _installed(tmp_path, SAELENS_YAML)
    monkeypatch.syspath_prepend(str(site))
    return site


def test_the_installed_saelens_registry_is_read_without_importing_it(installed):
    d = load_sae_directory()
    assert "sae_lens" not in sys.modules
    kinds = [s.kind for s in d.sources]
    assert kinds == [DirectorySource.BUILT_IN, DirectorySource.SAELENS]
    sl = d.sources[1]
    assert sl.version == "6.54.12" and sl.path == str(installed / "sae_lens" / "pretrained_saes.yaml")
    assert "installed sae-lens 6.54.12 (3 releases" in d.describe()
    rel = d.releases["gemma-scope-2-270m-it-res"]
    assert rel.source is DirectorySource.SAELENS  # it replaced the built-in release of that name
    assert [s.id for s in rel.saes] == ["layer_12_width_16k_l0_medium", "layer_12_width_262k_l0_small"]
    s = rel.saes[0]
    assert (s.neuronpedia, s.l0, s.d_sae, s.hook) == ("gemma-3-270m-it/12-gemmascope-2-res-16k", 60.0, 16384,
                                                       "blocks.12.hook_resid_post")
    assert rel.saes[1].d_sae == 262144 and rel.saes[1].neuronpedia is None
    assert (rel.conversion_func, rel.model_repo) == ("gemma_3", "google/gemma-3-270m-it")
    tc = d.releases["gemma-scope-2-1b-it-transcoders"].saes[0]
    assert tc.hook == "blocks.7.hook_mlp_in"
    assert d.releases["gpt2-small-res-jb"].model_repo == "gpt2"
    # built-in releases SAELens does not list stay, marked as such
    assert d.releases["eleutherai-smollm2-135m-64x"].source is DirectorySource.BUILT_IN
    assert d.problems == ()


def test_the_built_in_subset_lists_gemma_scope_2_qwen_scope_and_llama_scope(no_saelens):
    d = load_sae_directory()
    assert [s.kind for s in d.sources] == [DirectorySource.BUILT_IN]
    assert d.describe().startswith(f"{len(d.releases)} releases, {d.n_saes} SAEs from built-in subset")
    names = set(d.releases)
    assert {"gemma-scope-2-270m-it-res", "gemma-scope-2-1b-it-res", "gemma-scope-2-270m-it-transcoders",
            "qwen-scope-3-1.7b-base-w32k-l50", "llama_scope_lxr_8x"} <= names
    assert d.n_saes < 100  # a subset, not SAELens's list
    rel, sae = resolve("gemma-scope-2-1b-it-res/layer_13_width_16k_l0_medium", d.releases)
    assert (rel.repo_id, sae.path) == ("google/gemma-scope-2-1b-it", "resid_post/layer_13_width_16k_l0_medium")
    assert sae.neuronpedia == "gemma-3-1b-it/13-gemmascope-2-res-16k"
    assert sae.hook == "blocks.13.hook_resid_post" and sae.d_sae == 16384
    tc = d.releases["gemma-scope-2-270m-it-transcoders"].saes
    assert all(s.hook and s.hook.endswith("hook_mlp_in") for s in tc)
    assert not any(s.pickled for s in d.releases["qwen-scope-3-1.7b-base-w32k-l50"].saes)  # read without unpickling
    ls = d.releases["llama_scope_lxr_8x"].find("l16r_8x")
    assert (ls.neuronpedia, ls.hook, ls.d_sae) == ("llama3.1-8b/16-llamascope-res-32k", "blocks.16.hook_resid_post",
                                                   32768)


def test_a_malformed_installed_file_is_named_and_the_built_in_list_still_works(monkeypatch, tmp_path):
    monkeypatch.setenv("DESKTOP_SAE_CACHE_DIR", str(tmp_path / "cache"))
    site = _installed(tmp_path, "gemma-scope-2-270m-it-res:\n  repo_id: [unclosed\n")
    monkeypatch.syspath_prepend(str(site))
    d = load_sae_directory()
    assert len(d.problems) == 1
    assert "the installed sae-lens was not read" in d.problems[0] and "is not valid YAML" in d.problems[0]
    assert str(site / "sae_lens" / "pretrained_saes.yaml") in d.problems[0]
    assert [s.kind for s in d.sources] == [DirectorySource.BUILT_IN]
    assert d.releases["gemma-scope-2-270m-it-res"].source is DirectorySource.BUILT_IN
    # a file that parses but is not a directory
    (site / "sae_lens" / "pretrained_saes.yaml").write_text("- just\n- a list\n")
    d = load_sae_directory()
    assert "must map release names to releases" in d.problems[0] and "gemma-scope-2-1b-it-res" in d.releases
    # a file given explicitly must be readable
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [b\n")
    with pytest.raises(AssetError, match=f"{bad} is not valid YAML"):
        load_sae_directory(bad)


def test_the_env_var_names_a_file_or_turns_the_installed_one_off(monkeypatch, tmp_path, installed):
    monkeypatch.setenv(directory_files.SAELENS_ENV, str(installed / "sae_lens" / "pretrained_saes.yaml"))
    assert load_sae_directory().sources[1].version == "6.54.12"
    monkeypatch.setenv(directory_files.SAELENS_ENV, "none")
    assert [s.kind for s in load_sae_directory().sources] == [DirectorySource.BUILT_IN]
    monkeypatch.setenv(directory_files.SAELENS_ENV, str(tmp_path / "missing.yaml"))
    d = load_sae_directory()
    assert "which is not a file" in d.problems[0] and d.releases


def test_the_parsed_file_is_cached_by_size_and_mtime(installed, tmp_path):
    f = installed / "sae_lens" / "pretrained_saes.yaml"
    load_sae_directory()
    caches = list((tmp_path / "cache" / "sae_directory").glob("*.json"))
    assert len(caches) == 1
    cached = json.loads(caches[0].read_text())
    assert cached["size"] == f.stat().st_size and "gpt2-small-res-jb" in cached["data"]
    # the cache is what is read while the file is unchanged
    cached["data"]["from-the-cache"] = {"repo_id": "x/y", "model": "m", "saes": [{"id": "a", "path": "a"}]}
    caches[0].write_text(json.dumps(cached))
    assert "from-the-cache" in load_sae_directory().releases
    # a changed file is parsed again
    f.write_text(SAELENS_YAML.replace("gpt2-small-res-jb:", "gpt2-small-res-renamed:"))
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    d = load_sae_directory()
    assert "from-the-cache" not in d.releases and "gpt2-small-res-renamed" in d.releases
    # a damaged cache is ignored and rewritten
    caches[0].write_text("{not json")
    assert "gpt2-small-res-renamed" in load_sae_directory().releases
    assert json.loads(caches[0].read_text())["size"] == f.stat().st_size


def test_hook_and_width_hints():
    assert hook_hint("blocks.8.hook_resid_pre_768", "x", "r") == "blocks.8.hook_resid_pre"
    assert hook_hint("blocks.12.hook_resid_post__trainer_0", "x", "r") == "blocks.12.hook_resid_post"
    assert hook_hint("layer_3", "sae_group_gpt2_blocks.3.hook_mlp_out_24576:v1", "r") == "blocks.3.hook_mlp_out"
    assert hook_hint("blocks.0.hook_z", "x.pt", "r") == "blocks.0.hook_z"
    assert hook_hint("a", "attn_out_all/layer_4_width_16k_l0_big", "r") == "blocks.4.attn.hook_z"
    assert hook_hint("a", "mlp_out/layer_4_width_16k_l0_big", "r") == "blocks.4.hook_mlp_out"
    assert hook_hint("layer_20/width_16k/average_l0_71", "layer_20/width_16k/average_l0_71",
                     "gemma-scope-2b-pt-res") == "blocks.20.hook_resid_post"
    assert hook_hint("layer_20/width_16k/x", "layer_20/width_16k/x", "gemma-scope-2b-pt-mlp") == \
        "blocks.20.hook_mlp_out"
    assert hook_hint("l3a_32x", "Llama3_1-8B-Base-L3A-32x", "llama_scope_lxa_32x") == "blocks.3.hook_attn_out"
    assert hook_hint("layer7", "layer7.sae.pt", "qwen-scope-3-8b-base-w64k-l50") == "blocks.7.hook_resid_post"
    assert hook_hint("layer_7", "layer_7.safetensors", "mwhanna-qwen3-4b-transcoders") == "blocks.7.hook_mlp_in"
    assert hook_hint("embedding", "embedding/width_4k/average_l0_6", "gemma-scope-2b-pt-res") is None
    assert hook_hint("anything", "x", "r", given="blocks.1.hook_resid_pre") == "blocks.1.hook_resid_pre"
    assert width_hint(None, "layer_0_width_1m_l0_big") == 1 << 20
    assert width_hint(None, "a", "Qwen/SAE-Res-Qwen3-1.7B-Base-W32K-L0_50") == 32768
    assert width_hint(None, "layer_5/width_131k/average_l0_9") == 131072
    assert width_hint(None, "layer_5_width_65k_l0_big") == 65536 and width_hint(None, "width_262k") == 262144
    assert width_hint(None, "Qwen/SAE-Res-Qwen3.5-27B-W80K-L0_50") == 80 * 1024
    assert width_hint(24576, "width_16k") == 24576
    assert width_hint(None, "blocks.8.hook_resid_pre") is None


def test_search_and_group_by_model(installed):
    d = load_sae_directory()
    found = search(d.releases.values(), "layer_12 16k", model="gemma-3-270m")
    assert [(m.release.name, [s.id for s in m.saes]) for m in found] == [
        ("gemma-scope-2-270m-it-res", ["layer_12_width_16k_l0_medium"]),
        ("gemma-scope-2-270m-it-transcoders", ["transcoder/layer_12_width_16k_l0_medium",
                                               "transcoder/layer_12_width_16k_l0_medium_affine"])]
    assert [m.release.name for m in search(d.releases.values(), "resid_post 12 16k", model="GEMMA-3-270M")] == [
        "gemma-scope-2-270m-it-res"]
    # a word that matches the release keeps all of its SAEs; words match hooks and Neuronpedia ids too
    assert len(search(d.releases.values(), "GEMMA-SCOPE-2-270M-IT-RES")[0].saes) == 2
    assert [m.release.name for m in search(d.releases.values(), "8-res-jb")] == ["gpt2-small-res-jb"]
    assert [m.release.name for m in search(d.releases.values(), "hook_mlp_in")] == \
        ["gemma-scope-2-1b-it-transcoders", "gemma-scope-2-270m-it-transcoders"]
    assert search(d.releases.values(), "no-such-thing") == []
    groups = group_by_model(search(d.releases.values(), "gemma-scope-2-"))
    assert [(g.model, [m.release.name for m in g.matches]) for g in groups] == [
        ("google/gemma-3-1b-it", ["gemma-scope-2-1b-it-res", "gemma-scope-2-1b-it-transcoders"]),
        ("google/gemma-3-270m-it", ["gemma-scope-2-270m-it-res", "gemma-scope-2-270m-it-transcoders"])]
    assert groups[1].n_saes == 2 + 3


def test_a_pickled_release_sae_is_refused_before_any_request(no_saelens, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: a request would fail differently
    releases = parse_directory("goodfire-llama-3.3-70b:\n  repo_id: Goodfire/Llama-3.3-70B-Instruct-SAE-l50\n"
                               "  model: meta-llama/Llama-3.3-70B-Instruct\n  saes:\n"
                               "    - {id: layer_50, path: Llama-3.3-70B-Instruct-SAE-l50.pt}\n")
    with pytest.raises(AssetError, match=r"goodfire-llama-3.3-70b/layer_50 is stored as a pickled checkpoint "
                                         r"\(Llama-3.3-70B-Instruct-SAE-l50.pt\)"):
        download_release_sae("goodfire-llama-3.3-70b/layer_50", releases)
    # a Qwen Scope layer<L>.sae.pt has a pickle-free reader: it is asked for (and here the hub is not there)
    with pytest.raises(AssetError, match="cannot be reached"):
        download_release_sae("qwen-scope-3-1.7b-base-w32k-l50/layer12")


def test_a_gemma_scope_2_folder_is_downloadable_with_its_weights_last():
    listing = {"resid_post/layer_12_width_16k_l0_medium/config.json": 300,
               "resid_post/layer_12_width_16k_l0_medium/params.safetensors": 10_000,
               "resid_post_all/layer_12_width_16k_l0_big/params.safetensors": 10_000,
               "resid_post/layer_12_width_16k_l0_small/README.md": 10, "README.md": 10}
    # params.safetensors alone makes the folder an SAE (SAELens infers a missing config.json), so it comes last
    assert choose_sae_files(listing, "google/gemma-scope-2-270m-it", "resid_post/layer_12_width_16k_l0_medium") == [
        "resid_post/layer_12_width_16k_l0_medium/config.json",
        "resid_post/layer_12_width_16k_l0_medium/params.safetensors"]
    assert choose_sae_files(listing, "google/gemma-scope-2-270m-it", "resid_post_all/layer_12_width_16k_l0_big") == [
        "resid_post_all/layer_12_width_16k_l0_big/params.safetensors"]
    with pytest.raises(AssetError, match="Gemma Scope 2 folders"):
        choose_sae_files(listing, "google/gemma-scope-2-270m-it", "resid_post/layer_12_width_16k_l0_small")


def test_one_file_families_bring_the_configs_their_loader_reads():
    listing = {"layer_3.safetensors": 9000, "layer_4.safetensors": 9000, "wandb-config.yaml": 80,
               "config.yaml": 40, "README.md": 10}
    assert choose_sae_files(listing, "mwhanna/qwen3-4b-transcoders", "layer_3.safetensors") == [
        "wandb-config.yaml", "config.yaml", "layer_3.safetensors"]
    spelled = {"layer_3.safetensors": 9000, "wanb-config.yaml": 80}  # the 14b repos: no config.yaml, the typo
    assert choose_sae_files(spelled, "mwhanna/qwen3-14b-transcoders", "layer_3.safetensors") == [
        "wanb-config.yaml", "layer_3.safetensors"]
    qwen = {"layer6.sae.pt": 9000, "layer12.sae.pt": 9000, "README.md": 10}
    assert choose_sae_files(qwen, "Qwen/SAE-Res-Qwen3-1.7B-Base-W32K-L0_50", "layer12.sae.pt") == ["layer12.sae.pt"]
    alone = {"layer_3.safetensors": 9000}  # no wandb config: not an mwhanna transcoder, only the file itself
    assert choose_sae_files(alone, "someone/else", "layer_3.safetensors") == ["layer_3.safetensors"]


def test_the_releases_command(installed, capsys):
    assert main(["releases", "--model", "gemma-3", "--search", "layer_12"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("SAE directory: ")
    assert "installed sae-lens 6.54.12 (3 releases" in out
    assert "google/gemma-3-270m-it  (2 releases, 4 SAEs)" in out
    assert "gpt2-small" not in out
    assert main(["releases", "gemma-scope-2-270m-it-res", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["source"] == "installed sae-lens" and got["conversion_func"] == "gemma_3"
    assert got["saes"][0] == {"id": "layer_12_width_16k_l0_medium", "path": "resid_post/layer_12_width_16k_l0_medium",
                              "hook": "blocks.12.hook_resid_post", "d_sae": 16384, "l0": 60.0,
                              "neuronpedia": "gemma-3-270m-it/12-gemmascope-2-res-16k", "pickled": False}
    assert main(["releases", "no-such-release"]) == 2
    assert "unknown SAE release 'no-such-release'" in capsys.readouterr().err
    assert main(["download", "--releases"]) == 0
    assert capsys.readouterr().out.startswith("SAE directory: ")


def test_the_committed_reading_of_the_real_saelens_file_lists_gemma_scope_2():
    """packaging/interop/registry_from_saelens.py read the real installed file (sae-lens is too heavy for CI)."""
    d = json.loads((ROOT / "docs/results/interop/saelens_registry.json").read_text())
    s = d["summary"]
    assert s["sae_lens_version"] and s["releases"] >= 100 and s["saes"] >= 1000
    found = d["families"]
    assert "gemma-scope-2-270m-it-res" in found["gemma_scope_2"] and "gemma-scope-2-1b-it-res" in found["gemma_scope_2"]
    assert any(r.endswith("-transcoders") for r in found["gemma_scope_2"])
    assert found["qwen_scope"] and found["llama_scope"]
    assert 0 < s["parse_seconds_median"] and 0 < s["cached_load_seconds_median"] < s["parse_seconds_median"]

