"""The start-up checks wired into ``desktop-sae`` (before Qt is imported) and ``desktop-sae doctor``."""

import json
import os
import subprocess
import sys
from pathlib import Path

from desktop_sae.cli import main
from desktop_sae.core.diagnostics import startup_checks as diagnostics
from desktop_sae.core.diagnostics.startup_checks import Problem

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env.pop("DESKTOP_SAE_SKIP_CHECKS", None)
    return {**env, **extra}


def test_launch_without_a_display_explains_instead_of_aborting():
    """Qt would abort (SIGABRT) with "could not load the Qt platform plugin"; the check stops first."""
    out = subprocess.run([sys.executable, "-m", "desktop_sae"], cwd=ROOT, env=_env(QT_QPA_PLATFORM="xcb"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "no display to open the window on" in out.stderr and "xvfb-run -a desktop-sae" in out.stderr
    assert "QT_QPA_PLATFORM=offscreen" in out.stderr and "desktop-sae doctor" in out.stderr
    assert "Qt platform plugin" not in out.stderr


def test_start_up_checks_import_neither_qt_nor_torch():
    code = ("import sys; from desktop_sae.core.diagnostics import startup_checks as sc; sc.startup_problems(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'torch', 'transformers'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_doctor_json_reports_every_check(capsys, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    code = main(["doctor", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == (0 if r["ok"] else 1)
    assert {"platforms", "folders", "model", "problems", "environment"} <= set(r)
    assert r["environment"]["QT_QPA_PLATFORM"] == "offscreen" and "offscreen" in r["platforms"]
    assert r["platforms"]["offscreen"]["missing"] == []  # the tests themselves run on it
    assert set(r["folders"]) == {"config", "data", "cache"}
    assert r["folders"]["config"]["path"] == os.environ["DESKTOP_SAE_CONFIG_DIR"]
    assert r["folders"]["config"]["problem"] is None


def test_doctor_text_names_a_broken_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("DESKTOP_SAE_DATA_DIR", str(tmp_path / "file" / "data"))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"data      {tmp_path / 'file' / 'data'}: it cannot be created" in out
    assert "error: the data folder" in out and "DESKTOP_SAE_DATA_DIR" in out


def test_doctor_packages_prints_the_apt_packages(capsys, monkeypatch):
    monkeypatch.setattr(diagnostics, "desktop_packages", lambda: (["libxcb-icccm4", "libxcb-keysyms1"], []))
    assert main(["doctor", "--packages"]) == 0
    assert capsys.readouterr().out.strip() == "libxcb-icccm4 libxcb-keysyms1"


def _launch(monkeypatch, problems):
    import desktop_sae.gui.app as gui_app

    calls = []
    monkeypatch.setattr(diagnostics, "startup_problems", lambda model=None, env=None: problems)
    monkeypatch.setattr(gui_app, "run_app", lambda args, notices=(): calls.append(list(notices)) or 0)
    return main([]), calls


def test_launch_stops_on_an_error_and_shows_warnings_in_a_dialog(capsys, monkeypatch):
    warn = Problem("folder", "warning", "the data folder /x is not writable")
    in_window = Problem("model", "warning", "the bundled model is not installed", in_window=True)
    code, calls = _launch(monkeypatch, [warn, in_window])
    assert code == 0 and calls == [[warn]]  # the window reports a failed model load by itself
    err = capsys.readouterr().err
    assert "warning: the data folder /x is not writable" in err and "bundled model is not installed" in err
    code, calls = _launch(monkeypatch, [Problem("display", "error", "no display"), warn])
    assert code == 2 and calls == []
    assert "error: no display" in capsys.readouterr().err


def test_skip_checks_variable(capsys, monkeypatch):
    monkeypatch.setenv("DESKTOP_SAE_SKIP_CHECKS", "1")
    code, calls = _launch(monkeypatch, [Problem("display", "error", "no display")])
    assert code == 0 and calls == [[]]


def test_run_app_shows_the_notices_in_a_dialog(qapp, monkeypatch):
    import argparse

    import desktop_sae.gui.app as gui_app

    shown = []

    class FakeWindow:
        def show_error(self, title, msg):
            shown.append((title, msg))

    monkeypatch.setattr(gui_app, "build_window", lambda load, preset=None: FakeWindow())
    monkeypatch.setattr(type(qapp), "exec", lambda self: 0)
    notice = Problem("folder", "warning", "the data folder /x is not writable: point DESKTOP_SAE_DATA_DIR elsewhere")
    assert gui_app.run_app(argparse.Namespace(), notices=[notice]) == 0
    assert shown == [("Start-up check", "The data folder /x is not writable: point DESKTOP_SAE_DATA_DIR elsewhere")]
