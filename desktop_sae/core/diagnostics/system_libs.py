"""Which system libraries Qt's platform plugins need and which are missing, found without importing Qt.

PySide6's wheels bring Qt itself but not the X11/Wayland/OpenGL/font libraries of the system; without them
Qt aborts with a bare "could not load the Qt platform plugin". ``missing_libraries`` asks the dynamic linker
(``ldd``) which of a plugin's libraries cannot be found; ``SONAME_PACKAGES`` names the Debian/Ubuntu package
of each, so a message can say exactly what to install.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# soname -> Debian/Ubuntu package (on Ubuntu 24.04 and Debian 13 apt picks the *t64 variant by itself)
SONAME_PACKAGES: dict[str, str] = {
    # X11 and its xcb extensions: Qt's xcb platform plugin (the window on an X11 desktop or XWayland)
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libXext.so.6": "libxext6",
    "libXrender.so.1": "libxrender1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    # Wayland
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    # OpenGL / EGL (QtGui links them even when drawing in software)
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    # fonts, D-Bus, GLib and what they pull in
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libharfbuzz.so.0": "libharfbuzz0b",
    "libpng16.so.16": "libpng16-16",
    "libexpat.so.1": "libexpat1",
    "libbrotlidec.so.1": "libbrotli1",
    "libbrotlicommon.so.1": "libbrotli1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libpcre2-8.so.0": "libpcre2-8-0",
    "libz.so.1": "zlib1g",
    "libzstd.so.1": "libzstd1",
    "libbsd.so.0": "libbsd0",
    "libsystemd.so.0": "libsystemd0",
}

# what each platform plugin links (directly or through QtGui): tried one by one where there is no ldd
_QTGUI = ("libGL.so.1", "libEGL.so.1", "libfontconfig.so.1", "libfreetype.so.6", "libxkbcommon.so.0",
          "libdbus-1.so.3", "libglib-2.0.so.0")
PLUGIN_LIBRARIES: dict[str, tuple[str, ...]] = {
    "xcb": _QTGUI + ("libxcb.so.1", "libX11.so.6", "libX11-xcb.so.1", "libxkbcommon-x11.so.0", "libxcb-cursor.so.0",
                     "libxcb-icccm.so.4", "libxcb-image.so.0", "libxcb-keysyms.so.1", "libxcb-randr.so.0",
                     "libxcb-render-util.so.0", "libxcb-render.so.0", "libxcb-shape.so.0", "libxcb-shm.so.0",
                     "libxcb-sync.so.1", "libxcb-util.so.1", "libxcb-xfixes.so.0", "libxcb-xkb.so.1"),
    "wayland": _QTGUI + ("libwayland-client.so.0", "libwayland-cursor.so.0"),
    "offscreen": _QTGUI,
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.M)


def pyside_dir() -> Path | None:
    """PySide6's package folder, found without importing it (None when PySide6 is not installed)."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def platform_plugin(name: str, env: Mapping[str, str] | None = None) -> Path | None:
    """The file of Qt's platform plugin ``name`` (e.g. 'xcb' -> .../platforms/libqxcb.so), or None."""
    env = os.environ if env is None else env
    dirs = [Path(d) for d in env.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep) if d]
    root = pyside_dir()
    if root is not None:
        dirs.append(root / "Qt" / "plugins" / "platforms")
    for d in dirs:
        p = d / f"libq{name}.so"
        if p.is_file():
            return p
    return None


def ldd_missing(binary: Path) -> list[str] | None:
    """Sonames the dynamic linker cannot find for ``binary`` (and what it needs in turn); None without ldd."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        out = subprocess.run([ldd, str(binary)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return list(dict.fromkeys(_NOT_FOUND.findall(out)))


def dlopen_missing(sonames: Iterable[str]) -> list[str]:
    """The sonames in ``sonames`` that cannot be loaded (the fallback where there is no ldd)."""
    missing = []
    for so in sonames:
        try:
            ctypes.CDLL(so)
        except OSError:
            missing.append(so)
    return missing


def missing_libraries(platform: str, env: Mapping[str, str] | None = None) -> list[str]:
    """Missing system libraries of Qt's ``platform`` plugin (empty when all load or the plugin is not found)."""
    if not sys.platform.startswith("linux"):
        return []
    plugin = platform_plugin(platform, env)
    found = ldd_missing(plugin) if plugin is not None else None
    if found is None:
        found = dlopen_missing(PLUGIN_LIBRARIES.get(platform, ()))
    return found


def packages_for(sonames: Sequence[str]) -> tuple[list[str], list[str]]:
    """(Debian packages that provide ``sonames``, sonames with no known package), each without repeats."""
    packages = list(dict.fromkeys(SONAME_PACKAGES[s] for s in sonames if s in SONAME_PACKAGES))
    unknown = [s for s in sonames if s not in SONAME_PACKAGES]
    return packages, unknown
