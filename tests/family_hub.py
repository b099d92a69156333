"""Gemma Scope 2, Qwen Scope and mwhanna repositories on the loopback hub (tests/hub_server.py), laid out as the
real hub repositories are (the paths SAELens's pretrained_saes.yaml gives), with a directory file naming them;
used by tests/test_family_downloads.py and tests/gui/test_family_assets_gui.py."""

from pathlib import Path

import pytest

from desktop_sae.core.assets import downloads as hd
from desktop_sae.core.support import paths
from hub_server import MODEL_REPO
from sae_family_fixtures import GEMMA_REPO, MWHANNA_REPO, write_gemmascope2, write_mwhanna, write_qwenscope

QWEN_REPO = "Qwen/SAE-Res-TinyQwen-W1K-L0_8"  # the repository's name gives k (8) and the width (1K)
RELEASES = f"""
gemma-scope-2-270m-it-res:
  repo_id: {GEMMA_REPO}
  model: google/gemma-3-270m-it
  conversion_func: gemma_3
  saes:
    - {{id: layer_1_width_16k_l0_medium, path: resid_post/layer_1_width_16k_l0_medium, l0: 60}}
gemma-scope-2-270m-it-transcoders:
  repo_id: {GEMMA_REPO}
  model: google/gemma-3-270m-it
  conversion_func: gemma_3
  saes:
    - {{id: transcoder/layer_1_width_16k_l0_medium, path: transcoder/layer_1_width_16k_l0_medium}}
gemma-scope-2-270m-it-att:
  repo_id: {GEMMA_REPO}
  model: google/gemma-3-270m-it
  conversion_func: gemma_3
  saes:
    - {{id: layer_1_width_16k_l0_medium, path: attn_out/layer_1_width_16k_l0_medium}}
qwen-scope-tiny:
  repo_id: {QWEN_REPO}
  model: Qwen/TinyQwen
  conversion_func: qwen_scope
  saes:
    - {{id: layer1, path: layer1.sae.pt, l0: 8}}
    - {{id: layer2, path: layer2.sae.pt, l0: 8}}
mwhanna-tiny-transcoders:
  conversion_func: mwhanna_transcoder
  model: qwen3-0.6b
  repo_id: {MWHANNA_REPO}
  saes:
    - {{id: layer_1, path: layer_1.safetensors}}
    - {{id: layer_2, path: layer_2.safetensors}}
"""
@pytest.fixture(scope="module")
def family_hub(fake_hub, tmp_path_factory):
    """The three repositories on the loopback hub: every site of Gemma Scope 2 at layer 1, two layers each of
    Qwen Scope and mwhanna, all 64 wide like the tiny Llama (4 heads of 16: its hook_z is 64 wide too)."""
    root = tmp_path_factory.mktemp("family_repos")
    write_gemmascope2(root, "resid_post", 64, 96, layer=1, seed=1)
    write_gemmascope2(root, "transcoder", 64, 80, layer=1, seed=2)
    write_gemmascope2(root, "attn_out", 64, 48, layer=1, seed=3)
    for layer in (1, 2):
        write_qwenscope(root, 64, 1024, repo=QWEN_REPO, layer=layer, seed=4 + layer)
        write_mwhanna(root, 64, 112, layer=layer, seed=6 + layer)
    (root / QWEN_REPO / "README.md").write_text("not part of an SAE\n")
    for repo in (GEMMA_REPO, QWEN_REPO, MWHANNA_REPO):
        fake_hub.add_folder(repo, root / repo)
    return fake_hub


@pytest.fixture
def family_env(family_hub, hub_env):
    (paths.data_dir() / "pretrained_saes.yaml").write_text(RELEASES)
    return Path(hd.download_model(MODEL_REPO).path)
