"""The manager's SAE directory tab (offscreen): the installed sae-lens's releases grouped by model under a line
saying where the list came from, the filter, lazy SAE rows, choosing an SAE for the download row; a malformed
installed file named in red with the built-in list still shown."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from conftest import make_tiny_loader
from desktop_sae.core.assets import directory_files
from test_sae_registry import SAELENS_YAML, _installed

pytestmark = pytest.mark.gui


@pytest.fixture
def manager(make_window, tiny_sae_dir, monkeypatch, tmp_path):
    monkeypatch.delenv(directory_files.SAELENS_ENV, raising=False)
    monkeypatch.setenv("DESKTOP_SAE_CACHE_DIR", str(tmp_path / "cache"))

    def open_with(yaml_text: str):
        monkeypatch.syspath_prepend(str(_installed(tmp_path, yaml_text)))
        win = make_window(make_tiny_loader(tiny_sae_dir))
        win.menu_actions.assets.trigger()
        dlg = win.files.asset_manager
        dlg.tabs.setCurrentWidget(dlg.directory)
        return dlg

    return open_with


def _tops(view):
    return {view.tree.topLevelItem(i).text(0): view.tree.topLevelItem(i) for i in range(view.tree.topLevelItemCount())}


def test_the_directory_tab_filters_groups_and_chooses(manager, qtbot):
    dlg = manager(SAELENS_YAML)
    view = dlg.directory
    assert "installed sae-lens 6.54.12 (3 releases" in view.source.text()
    assert "Install sae-lens" not in view.source.text()
    tops = _tops(view)
    assert {"google/gemma-3-270m-it", "google/gemma-3-1b-it", "gpt2-small", "SmolLM2-135M"} <= set(tops)
    rel = next(tops["google/gemma-3-270m-it"].child(i) for i in range(tops["google/gemma-3-270m-it"].childCount())
               if tops["google/gemma-3-270m-it"].child(i).text(0) == "gemma-scope-2-270m-it-res")
    assert rel.childCount() == 0 and rel.text(1) == "2"  # SAE rows are made when the release is opened
    rel.setExpanded(True)
    assert [rel.child(i).text(0) for i in range(rel.childCount())] == [
        "layer_12_width_16k_l0_medium", "layer_12_width_262k_l0_small"]
    assert rel.child(0).text(2) == "blocks.12.hook_resid_post" and rel.child(0).text(3) == "16384"
    assert rel.child(0).text(5) == "gemma-3-270m-it/12-gemmascope-2-res-16k"

    qtbot.keyClicks(view.filter, "transcoder layer_12")
    qtbot.waitUntil(lambda: "match 'transcoder layer_12'" in view.count.text(), timeout=3000)
    assert view.visible_counts() == (1, 1)
    release = _tops(view)["google/gemma-3-270m-it"].child(0)
    assert release.text(0) == "gemma-scope-2-270m-it-transcoders" and release.isExpanded()
    sae = release.child(0)
    assert sae.text(0) == "transcoder/layer_12_width_16k_l0_medium" and release.childCount() == 2
    view.tree.itemActivated.emit(sae, 0)  # double-click / Enter
    panel = dlg.download
    assert panel.kind.currentData() == "release"
    assert panel.id_edit.text() == "gemma-scope-2-270m-it-transcoders/transcoder/layer_12_width_16k_l0_medium"
    assert panel.request().steps() == [("release", panel.id_edit.text())]

    view.filter.clear()
    qtbot.keyClicks(view.filter, "no-such-sae")
    view.filter.returnPressed.emit()
    assert view.visible_counts() == (0, 0) and view.count.text().startswith("0 releases, 0 SAEs, 0 models")


def test_a_malformed_installed_file_is_shown_and_the_built_in_list_stays(manager):
    dlg = manager("not: [valid\n")
    view = dlg.directory
    text = view.source.text()
    assert "the installed sae-lens was not read" in text and "is not valid YAML" in text and "#d33" in text
    assert "built-in subset" in text and "Install sae-lens" in text
    tops = _tops(view)
    assert "google/gemma-3-270m-it" in tops and "Qwen/Qwen3-1.7B-Base" in tops
    panel = dlg.download
    assert panel.msg.text() == ""  # the download row reads the same (built-in) list, without complaint
    panel.kind.setCurrentIndex(panel.kind.findData("release"))
    ids = panel.id_edit.completer().model().stringList()
    assert "gemma-scope-2-1b-it-res/layer_13_width_16k_l0_medium" in ids
    assert len(ids) == sum(int(rel.text(1)) for top in tops.values()
                           for rel in (top.child(i) for i in range(top.childCount())))


def test_the_manager_fetches_neuronpedia_explanations_for_a_downloaded_sae(make_window, tiny_sae_dir, monkeypatch,
                                                                           tmp_path, qtbot):
    """A Gemma Scope 2 folder in the hub cache (its config names no Neuronpedia id; the built-in directory does)."""
    import json

    from desktop_sae.core.explanations.neuronpedia_fetch import DATASETS_ENV
    from desktop_sae.core.explanations.store import ExplanationStore
    from neuronpedia_server import Server, batch, entry

    monkeypatch.setenv(directory_files.SAELENS_ENV, "none")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    folder = (tmp_path / "hub" / "models--google--gemma-scope-2-270m-it" / "snapshots" / ("ab" * 20) / "resid_post"
              / "layer_12_width_16k_l0_medium")
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architecture": "jump_relu"}))
    (folder / "params.safetensors").write_bytes(b"")
    server = Server()
    try:
        monkeypatch.setenv(DATASETS_ENV, server.url)
        prefix = "v1/gemma-3-270m-it/12-gemmascope-2-res-16k/explanations/"
        server.files[prefix + "batch-0.jsonl.gz"] = batch([
            entry("gemma-3-270m-it", "12-gemmascope-2-res-16k", 11, "capital cities"),
            entry("gemma-3-270m-it", "12-gemmascope-2-res-16k", 12, "French words")])
        win = make_window(make_tiny_loader(tiny_sae_dir))
        win.menu_actions.assets.trigger()
        dlg = win.files.asset_manager
        panel = dlg.explanations
        assert not panel.fetch_btn.isEnabled()  # the tiny SAE has no Neuronpedia id
        assert "no Neuronpedia id" in panel.about.text()
        dlg.select(sae_path=str(folder))
        assert dlg.current_sae().path == str(folder)
        about = panel.about.text()
        assert "gemma-3-270m-it/12-gemmascope-2-res-16k" in about and "16384 features" in about
        assert panel.fetch_btn.isEnabled()
        qtbot.mouseClick(panel.fetch_btn, Qt.LeftButton)
        qtbot.waitUntil(lambda: not panel.run.running, timeout=20_000)
        assert panel.msg.text().startswith("2 explanations added (2 read, 2 stored in ")
        assert ExplanationStore.beside(folder).text(11) == "capital cities"
        assert panel.fetch_btn.isEnabled() and not panel.cancel_btn.isEnabled()
        server.mode = "garbage_listing"
        qtbot.mouseClick(panel.fetch_btn, Qt.LeftButton)
        qtbot.waitUntil(lambda: not panel.run.running, timeout=20_000)
        assert panel.msg.text().startswith("Not fetched: ") and "did not answer with a listing" in panel.msg.text()
    finally:
        server.close()
