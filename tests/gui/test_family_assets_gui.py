"""The manager downloads an mwhanna transcoder and a Qwen Scope SAE by release/id from the loopback hub, lists them
(not greyed), reports the transcoder's two hooks, and opens each on the downloaded tiny Llama with its features."""

import pytest
from PySide6.QtCore import Qt
from test_asset_manager import download, pair_loader

import hub_server
from family_hub import family_env, family_hub

fake_hub, hub_env = hub_server.fake_hub, hub_server.hub_env  # the loopback hub's fixtures
__all__ = ["family_env", "family_hub"]  # fixtures
pytestmark = pytest.mark.gui


@pytest.mark.parametrize(("ref", "width", "hooks"), [
    ("mwhanna-tiny-transcoders/layer_1", 112, "read at blocks.1.hook_mlp_in, written at blocks.1.hook_mlp_out"),
    ("qwen-scope-tiny/layer1", 1024, "at blocks.1.hook_resid_post")])
def test_download_a_family_sae_in_the_manager_and_open_it(make_window, tiny_sae_dir, family_env, qtbot, ref, width,
                                                          hooks):
    win = make_window(pair_loader(tiny_sae_dir))
    dlg = win.files.show_asset_manager()
    dlg.refresh(select_model=str(family_env))
    assert download(qtbot, dlg, 1, ref).startswith("Done")
    sae = dlg.current_sae()
    assert sae is not None and sae.usable and sae.path.endswith(ref.rpartition("/")[2] + (
        ".safetensors" if "mwhanna" in ref else ".sae.pt"))
    assert dlg.report.ok and f"features {hooks}" in dlg.report_view.toPlainText()
    qtbot.mouseClick(dlg.open_btn, Qt.LeftButton)
    model = win.controller.model
    qtbot.waitUntil(lambda: model.info is not None and model.info.sae_path == sae.path and model.ready,
                    timeout=60_000)
    assert win.features.model.rowCount() == width
