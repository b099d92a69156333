"""pyproject's explicit package list matches the source tree (a package missing from it would not install)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _listed() -> list[str]:
    text = (ROOT / "pyproject.toml").read_text()
    body = re.search(r"^packages = \[(.*?)\]", text, re.S | re.M).group(1)
    return re.findall(r'"([^"]+)"', body)


def test_pyproject_lists_exactly_the_packages_in_the_source_tree():
    inits = (ROOT / "desktop_sae").rglob("__init__.py")
    found = {p.parent.relative_to(ROOT).as_posix().replace("/", ".") for p in inits}
    # resources/ lives at the top level and installs as desktop_sae.resources (package-dir in pyproject)
    assert (ROOT / "resources" / "__init__.py").exists()
    found.add("desktop_sae.resources")
    listed = _listed()
    assert len(listed) == len(set(listed)) and set(listed) == found


def test_the_console_script_points_at_the_cli():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^desktop-sae = "desktop_sae\.cli:main"$', text, re.M)
    from desktop_sae.cli import main

    assert callable(main)
