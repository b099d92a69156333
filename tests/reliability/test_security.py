"""Security: nothing in the package unpickles; pickle-bearing files given as SAEs are refused without running
anything; trust_remote_code stays off unless the user opts in; preset names cannot place files outside the store,
and the store touches no file outside its folder."""

from __future__ import annotations

import builtins
import io
import json
import pickle
import pickletools
import zipfile
from pathlib import Path

import numpy as np
import pytest
import source_scan
import torch
from safetensors.torch import save_file

import desktop_sae
from desktop_sae.core.presets.file_format import parse_preset, preset_to_json
from desktop_sae.core.presets.store import PresetStore
from desktop_sae.core.sae.formats import load_sae, save_sae
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.support.errors import ModelLoadError, PresetError, SAEFormatError
from tiny import random_sae

PACKAGE = Path(desktop_sae.__file__).resolve().parent


# --- no unpickling ---------------------------------------------------------------------------------------
def test_package_source_never_unpickles():
    found = source_scan.scan_package(source_scan.unpickling, PACKAGE)
    assert not found, "unpickling in the package:\n" + "\n".join(found)


def test_the_scanner_finds_unpickling():
    bad = (
        "import dill\nimport pickle\nx = pickle.loads(b)\ntorch.load(f)\ntorch.load(f, weights_only=False)\n"
        "np.load(f, allow_pickle=True)\nfrom joblib import load\nimport shelve\n"
        "from cloudpickle import loads, register_pickle_by_value\nimport cloudpickle\n"
    )
    found = source_scan.unpickling(bad, "bad.py")
    assert [f.split(":")[1] for f in found] == ["1", "3", "4", "5", "6", "7", "8", "9", "10"], found
    ok = "torch.load(f, weights_only=True)\nnp.load(f)\nnp.load(f, allow_pickle=False)\npickle.dumps(x)\n"
    ok += "from cloudpickle import register_pickle_by_value, unregister_pickle_by_value\n"
    assert source_scan.unpickling(ok) == []


class _Payload:
    """Unpickling this creates ``marker`` (builtins.open(marker, 'w')): proof that something was unpickled."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


def _payload_bytes(marker: Path) -> bytes:
    data = pickle.dumps(_Payload(marker), protocol=2)
    ops = [op.name for op, _, _ in pickletools.genops(data)]  # checked statically: never unpickled here
    assert "REDUCE" in ops and marker.name.encode() in data
    return data


def _torch_pt(marker: Path) -> bytes:
    """A torch.save zip whose data.pkl holds the payload (what a malicious .pt / .bin looks like)."""
    buf = io.BytesIO()
    torch.save({"W_enc": torch.zeros(2, 2)}, buf)
    src, out = zipfile.ZipFile(io.BytesIO(buf.getvalue())), io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            z.writestr(info, _payload_bytes(marker) if info.filename.endswith("data.pkl") else src.read(info))
    return out.getvalue()


def _object_npz(marker: Path) -> bytes:
    """A Gemma Scope style params.npz whose W_enc is an object array (stored pickled)."""
    sae = random_sae(d_in=4, d_sae=8, arch="jumprelu")
    arrays = {n: getattr(sae, n).detach().numpy() for n in sae.tensor_names()}
    arrays["W_enc"] = np.array([_Payload(marker)], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.fixture
def no_unpickler(monkeypatch):
    """Any unpickling during the test fails it (on top of the marker file)."""
    calls = []

    def refuse(name):
        def f(*a, **kw):
            calls.append(name)
            raise AssertionError(f"{name} was called")

        return f

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse(f"pickle.{name}"))
    monkeypatch.setattr(torch, "load", refuse("torch.load"))
    yield calls
    assert calls == []


@pytest.mark.parametrize(
    "layout",
    [
        "sae.pt",
        "sae_weights.pt",
        "pt as sae_weights.safetensors",
        "pickle as params.npz",
        "object array in params.npz",
        "pt as sae.safetensors (sparsify)",
    ],
)
def test_pickle_bearing_files_are_refused_and_nothing_runs(tmp_path, no_unpickler, layout):
    marker = tmp_path / "PWNED"
    folder = tmp_path / "sae"
    folder.mkdir()
    target = folder
    if layout == "sae.pt":
        target = folder / "sae.pt"
        target.write_bytes(_torch_pt(marker))
    elif layout == "sae_weights.pt":
        save_sae(random_sae(d_in=4, d_sae=8), folder)
        (folder / "sae_weights.safetensors").unlink()
        (folder / "sae_weights.pt").write_bytes(_torch_pt(marker))
    elif layout == "pt as sae_weights.safetensors":
        save_sae(random_sae(d_in=4, d_sae=8), folder)
        (folder / "sae_weights.safetensors").write_bytes(_torch_pt(marker))
    elif layout == "pickle as params.npz":
        (folder / "params.npz").write_bytes(_payload_bytes(marker))
    elif layout == "object array in params.npz":
        (folder / "params.npz").write_bytes(_object_npz(marker))
    else:
        (folder / "cfg.json").write_text('{"k": 2, "num_latents": 8, "d_in": 4}')
        (folder / "sae.safetensors").write_bytes(_torch_pt(marker))
    with pytest.raises(SAEFormatError) as err:
        load_sae(target)
    msg = str(err.value)
    assert msg.strip() and len(msg) < 1000
    if "npz" in layout:
        assert "pickled objects" in msg and "never loaded" in msg
    assert not marker.exists(), "loading the SAE ran code from a pickle"


# --- a file cannot make the loader allocate what it claims ------------------------------------------------
def test_claimed_widths_are_checked_against_the_tensors_before_anything_is_allocated(tmp_path):
    """cfg.json claiming d_in = d_sae = 2^20 (4 TiB of weights) or more beside tiny weights: refused at once."""
    save_sae(random_sae(d_in=4, d_sae=8), tmp_path / "saelens")
    cfg = json.loads((tmp_path / "saelens" / "cfg.json").read_text())
    for width, msg in ((2**20, "has shape"), (2**31, "no possible SAE"), (2**70, "no possible SAE")):
        (tmp_path / "saelens" / "cfg.json").write_text(json.dumps({**cfg, "d_in": width, "d_sae": width}))
        with pytest.raises(SAEFormatError, match=msg):
            load_sae(tmp_path / "saelens")
    folder = tmp_path / "sparsify"
    folder.mkdir()
    save_file(
        {"encoder.weight": torch.zeros(8, 4), "W_dec": torch.zeros(8, 4), "b_dec": torch.zeros(4)},
        str(folder / "sae.safetensors"),
    )
    for cfg in (
        {"k": 2, "num_latents": 2**40},
        {"k": 2, "d_in": 2**40, "expansion_factor": "ab"},
        {"k": 2, "expansion_factor": 1e300},
        {"k": 2, "d_in": 2**60, "expansion_factor": 1e300},
    ):
        (folder / "cfg.json").write_text(json.dumps(cfg))
        with pytest.raises(SAEFormatError):
            load_sae(folder)


# --- trust_remote_code ------------------------------------------------------------------------------------
def test_trust_remote_code_is_never_on_by_default_in_the_source():
    found = source_scan.scan_package(source_scan.remote_code, PACKAGE)
    assert not found, "trust_remote_code could be on by default:\n" + "\n".join(found)


def test_the_scanner_finds_remote_code_defaults():
    bad = (
        "def f(trust_remote_code=True): pass\nload(x, trust_remote_code=True)\n"
        "getattr(a, 'trust_remote_code', True)\n"
        "p.add_argument('--trust-remote-code', action='store_true', default=True)\n"
    )
    assert [f.split(":")[1] for f in source_scan.remote_code(bad, "bad.py")] == ["1", "2", "3", "4"]
    ok = "def f(trust_remote_code=False): pass\nload(x, trust_remote_code=flag)\n"
    assert source_scan.remote_code(ok) == []


@pytest.fixture
def recorded_from_pretrained(monkeypatch, tmp_path):
    """A local model folder, and transformers' loaders replaced by recorders that stop the load."""
    import transformers

    calls = []

    def fake(kind):
        def from_pretrained(*a, **kw):
            calls.append((kind, kw.get("trust_remote_code", "<not passed>")))
            raise OSError("stopped by the test")

        return from_pretrained

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake("tokenizer"))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake("model"))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder, calls


def test_model_loading_keeps_remote_code_off_unless_asked(recorded_from_pretrained):
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.engine.models import load_model

    folder, calls = recorded_from_pretrained
    for load in (
        lambda: load_model(str(folder), device="cpu"),
        lambda: open_session(str(folder), sae="none", device="cpu"),
    ):
        with pytest.raises(ModelLoadError):
            load()
        assert calls and all(v is False for _, v in calls), calls
        calls.clear()
    with pytest.raises(ModelLoadError):
        load_model(str(folder), device="cpu", trust_remote_code=True)  # the explicit opt-in is honoured
    assert calls == [("tokenizer", True)]


# --- presets cannot reach outside their folder ------------------------------------------------------------
HOSTILE_NAMES = [
    "../../escape",
    "..",
    ".",
    "/etc/passwd",
    "a/../../b",
    "..\\..\\windows",
    "C:\\evil",
    "\\\\srv\\share",
    "~/home",
    "recent",
    "RECENT",
    "CON",
    "nul.txt",
    "com1",
    " .hidden",
    "x" * 80,
    "évil/🙂",
    "\u202egnp.exe",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_preset_name_never_places_a_file_outside_the_store(tmp_path, name):
    root = tmp_path / "store"
    store = PresetStore(root=root, builtin_dir=tmp_path / "builtin")
    p = parse_preset(preset_to_json(_preset(name)))
    path = store.save(p)
    assert path.resolve().parent == root.resolve(), path
    assert path.stem.split(".")[0].lower() not in {"con", "prn", "aux", "nul", "com1", "lpt1"}, path.name
    assert store.read(path) == p, "the preset did not survive (overwritten by another store file?)"
    assert [e.path for e in store.entries()] == [path]
    assert store.recent() == [path.resolve()]
    assert sorted(f.name for f in tmp_path.rglob("*") if f.is_file()) == sorted([path.name, "recent.json"])


def test_renaming_to_a_hostile_name_stays_in_the_store(tmp_path):
    store = PresetStore(root=tmp_path / "store", builtin_dir=tmp_path / "builtin")
    path = store.save(_preset("plain"))
    for name in ("../../out", "recent", "/abs/x"):
        path = store.rename(path, name)
        assert path.resolve().parent == store.root.resolve() and store.read(path).name == name


def test_the_store_changes_no_file_outside_its_folder(tmp_path):
    store = PresetStore(root=tmp_path / "store", builtin_dir=tmp_path / "builtin")
    store.save(_preset("inside"))
    outside = tmp_path / "outside.json"
    outside.write_text(preset_to_json(_preset("outside")))
    for change in (lambda: store.delete(outside), lambda: store.rename(outside, "moved")):
        with pytest.raises(PresetError, match="not in the preset folder"):
            change()
    assert outside.exists() and not (store.root / "moved.json").exists()


def _preset(name: str):
    from desktop_sae.core.presets.file_format import Preset

    return Preset(name=name.strip() or "untitled", steering=SteeringConfig((SteerSpec(2, 1.5),)))
