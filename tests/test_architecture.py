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



def _modules(package: str):
    return sorted((ROOT / "desktop_sae" / package).rglob("*.py"))


def test_no_module_is_over_400_lines_and_none_only_re_exports():
    """Small files, and no module that only hands on names imported from elsewhere (an indirection to read
    through): a module that imports defines something of its own."""
    import ast

    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
    too_long, reexport_only = [], []
    for path in (ROOT / "desktop_sae").rglob("*.py"):
        text = path.read_text()
        if text.count("\n") > 400:
            too_long.append(str(path.relative_to(ROOT)))
        body = ast.parse(text).body
        imports = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom)) and
                   not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
        runs = any(isinstance(n, (ast.Expr, ast.Raise, ast.If)) and not isinstance(getattr(n, "value", None),
                                                                      ast.Constant) for n in body)
        if imports and not runs and not any(isinstance(n, defs) for n in body):
            reexport_only.append(str(path.relative_to(ROOT)))
    assert too_long == [] and reexport_only == []


def test_no_gui_module_runs_a_job_itself():
    """Widgets start runs of the app; only the assembly (gui/app.py) and the inference thread touch the runner."""
    import ast

    offenders = []
    for path in _modules("gui"):
        if path.name in ("app.py", "inference_thread.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and (
                    node.attr in ("submit", "run_job", "cancel_job", "outbox")
                    or (node.attr == "runner" and ast.unparse(node.value).split(".")[-1] in ("controller", "ctl"))):
                offenders.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
            job_machinery = ("JobRunner", "JobSlot", "JobState")
            if isinstance(node, ast.ImportFrom) and any(a.name in job_machinery for a in node.names):
                offenders.append(f"{path.name}:{node.lineno} imports {[a.name for a in node.names]}")
    assert offenders == []


def test_opening_the_window_loads_no_torch():
    """The window shows before torch loads (torch loads on the inference thread): importing the app's controller,
    its sub-models and the main window must not import torch or transformers."""
    code = ("import sys, desktop_sae.app.controller, desktop_sae.gui.app, desktop_sae.gui.main_window\n"
            "heavy = [m for m in ('torch', 'transformers', 'pyqtgraph') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)
