"""House rules: the core never imports Qt, and neither does building the CLI."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_has_no_qt_imports_in_source():
    pat = re.compile(r"^\s*(from|import)\s+(PySide6|PyQt[56]|pyqtgraph|superqt|qtpy)\b|desktop_sae\.gui", re.M)
    offenders = [str(p) for p in (ROOT / "desktop_sae" / "core").rglob("*.py") if pat.search(p.read_text())]
    assert offenders == []


def test_importing_the_core_and_cli_loads_no_qt():
    mods = [p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
            for p in (ROOT / "desktop_sae" / "core").rglob("*.py") if p.name != "__init__.py"]
    code = "import sys, importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in mods) + \
        "import desktop_sae.cli as c; c.build_parser()\n" + \
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')]\n" + \
        "print(bad)\nassert not bad, bad\n"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)

