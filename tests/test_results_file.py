"""Results files: the meta block says where, when and with what a figure was measured; writes are atomic."""

import json

import pytest

from desktop_sae.core.support.results_file import package_versions, run_meta, write_results


def test_a_results_file_carries_machine_load_versions_date_and_command(tmp_path):
    out = write_results(tmp_path / "sub" / "r.json", {"tok_s": {"median": 31.9}}, load_before=0.5,
                        command=["desktop-sae", "bench", "engine"])
    rec = json.loads(out.read_text())
    meta = rec["meta"]
    assert rec["tok_s"] == {"median": 31.9}
    assert meta["command"] == "desktop-sae bench engine"
    assert meta["machine"]["cores"] >= 1 and meta["machine"]["cpu"]
    assert meta["load_average_1min"]["before"] == 0.5
    assert meta["date"][:2] == "20" and "T" in meta["date"]
    assert meta["versions"]["torch"] and meta["versions"]["python"].count(".") == 2


def test_versions_are_read_without_importing_the_packages():
    import sys

    sys.modules.pop("pyqtgraph", None)
    assert "pyqtgraph" in package_versions() and "pyqtgraph" not in sys.modules


def test_data_may_not_bring_its_own_meta_and_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "r.json"
    write_results(path, {"a": 1})
    with pytest.raises(ValueError):
        write_results(path, {"meta": {}, "a": 2})
    with pytest.raises(TypeError):
        write_results(path, {"a": object()})
    assert json.loads(path.read_text())["a"] == 1
    assert run_meta(["x"])["command"] == "x"
