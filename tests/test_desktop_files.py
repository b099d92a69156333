"""The Linux desktop entry, the AppStream metadata and the app icon (packaging/linux/, resources/icons/).
The validators run where they are installed; CI installs them (.ci/system-deps.sh)."""

import configparser
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from desktop_sae import __version__

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "io.github.desktop_sae.DesktopSAE"
DESKTOP = ROOT / "packaging" / "linux" / f"{APP_ID}.desktop"
METAINFO = ROOT / "packaging" / "linux" / f"{APP_ID}.metainfo.xml"
ICONS = ROOT / "resources" / "icons"
RAW = "https://raw.githubusercontent.com/desktop-sae/desktop-sae/main/"


def _run(*cmd) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validates():
    out = _run("desktop-file-validate", str(DESKTOP))
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), out.stdout + out.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_validates():
    out = _run("appstreamcli", "validate", "--no-net", "--explain", str(METAINFO))
    assert out.returncode == 0, out.stdout + out.stderr
    assert not re.search(r"^[EW]: ", out.stdout, re.M), out.stdout  # no errors, no warnings (infos are fine)


def _entry() -> configparser.SectionProxy:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(DESKTOP)
    return cp["Desktop Entry"]


def test_desktop_entry_starts_the_app_with_its_icon():
    e = _entry()
    assert e["Type"] == "Application" and e["Exec"].split()[0] == "desktop-sae" and e["Terminal"] == "false"
    assert e["Icon"] == APP_ID
    from desktop_sae.gui.app import APP_ID as WINDOW_APP_ID  # Wayland matches windows to this file by name

    assert WINDOW_APP_ID == APP_ID


def test_metainfo_matches_the_project():
    root = ET.parse(METAINFO).getroot()
    assert root.get("type") == "desktop-application" and root.findtext("id") == APP_ID
    assert root.find("launchable").text == DESKTOP.name
    assert root.findtext("project_license") == re.search(r'^license = "(.+)"', (ROOT / "pyproject.toml").read_text(),
                                                         re.M).group(1)
    releases = root.findall("releases/release")
    assert releases and releases[0].get("version") == __version__
    assert root.find("content_rating").get("type").startswith("oars-")
    assert root.findtext("provides/binary") == "desktop-sae"
    assert {c.text for c in root.findall("categories/category")} <= set(_entry()["Categories"].split(";"))


def test_screenshots_point_at_the_repository_files():
    images = ET.parse(METAINFO).getroot().findall("screenshots/screenshot/image")
    assert len(images) >= 3
    for img in images:
        assert img.text.startswith(RAW + "packaging/screenshots/")
        png = ROOT / img.text[len(RAW):]
        assert png.is_file(), png
        w, h = struct.unpack(">II", png.read_bytes()[16:24])
        assert (int(img.get("width")), int(img.get("height"))) == (w, h)


def test_icons_are_rendered_at_every_size_from_the_svg(qapp, tmp_path):
    """The committed PNGs are what packaging/render_icons.py makes from the SVG now (pixels within rounding)."""
    import sys

    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        import render_icons
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    from PySide6.QtGui import QImage

    ET.parse(ICONS / "desktop-sae.svg")  # well-formed
    fresh = render_icons.render(out=tmp_path)
    assert [p.name for p in fresh] == [f"desktop-sae-{s}.png" for s in (16, 32, 48, 64, 128, 256)]
    for p in fresh:
        committed, new = QImage(str(ICONS / p.name)), QImage(str(p))
        assert committed.size() == new.size() and committed.width() == int(p.stem.rsplit("-", 1)[1])
        a = committed.convertToFormat(QImage.Format_RGBA8888).constBits().tobytes()
        b = new.convertToFormat(QImage.Format_RGBA8888).constBits().tobytes()
        assert sum(abs(x - y) for x, y in zip(a, b)) / len(a) < 1.0
    # the corners are transparent, the middle is not: a real icon shape, not a filled square
    big = QImage(str(ICONS / "desktop-sae-256.png"))
    assert big.pixelColor(1, 1).alpha() == 0 and big.pixelColor(128, 128).alpha() == 255


def test_window_icon_has_every_size(qapp, monkeypatch):
    from desktop_sae.core.support import paths
    from desktop_sae.gui.app import app_icon

    monkeypatch.setattr(paths, "resources_dir", lambda: ROOT / "resources")
    icon = app_icon()
    assert sorted(s.width() for s in icon.availableSizes()) == [16, 32, 48, 64, 128, 256]


def test_install_desktop_entry_for_one_user(tmp_path):
    share = tmp_path / "share"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(share)}
    script = ROOT / "packaging" / "linux" / "install-desktop-entry.sh"
    out = subprocess.run(["bash", str(script), "/opt/my apps/desktop-sae"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    installed = share / "applications" / DESKTOP.name
    assert 'Exec="/opt/my apps/desktop-sae"' in installed.read_text().splitlines()
    assert (share / "metainfo" / METAINFO.name).is_file()
    assert (share / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png").is_file()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    if shutil.which("desktop-file-validate"):
        assert _run("desktop-file-validate", str(installed)).returncode == 0
