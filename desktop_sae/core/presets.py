"""Steering presets: a versioned JSON file naming the model, the SAE, the steered features, the global
multiplier and the sampling settings.

Loading is two-step and validates everything before anything is applied:
``parse_preset`` checks the file itself (structure, types, ranges) and ``check_preset`` checks it against the
loaded SAE (identity, feature ids, units that need statistics). Both raise ``PresetError`` naming what is wrong.
``PresetStore`` keeps user presets in ``paths.data_dir()/presets`` (atomic writes) next to read-only built-ins
from ``resources/presets/``; built-ins may name features by demo concept (``"demo": "golden_gate"``), resolved via
``resources/demo_features.json`` (which also supplies strength, unit and method when the preset leaves them out).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .atomic import atomic_write_text
from .checks import is_finite
from .checks import quote as _show
from .errors import PresetError
from .generation import SamplingConfig
from .steering import METHOD_ALIASES, UNITS, SteerSpec, SteeringConfig

SCHEMA = "desktop-sae-preset"
SCHEMA_VERSION = 1
MAX_NAME = 80
MAX_FEATURES = 64
_SAMPLING_KEYS = {f: type(getattr(SamplingConfig(), f)) for f in SamplingConfig.__dataclass_fields__}


@dataclass(frozen=True)
class SAEIdentity:
    """What a preset records about its SAE. ``fingerprint`` is a hash of a few decoder rows (may be empty)."""

    name: str = ""
    d_sae: int = 0
    hook: str = ""
    fingerprint: str = ""

    def describe(self) -> str:
        return f"{self.name or 'unnamed SAE'} ({self.d_sae} features at {self.hook or '?'})"


@dataclass(frozen=True)
class Preset:
    name: str
    steering: SteeringConfig
    sampling: SamplingConfig = SamplingConfig()
    model: str = ""
    sae: SAEIdentity = SAEIdentity()
    system: str | None = None
    description: str = ""
    demo_refs: dict[int, str] = field(default_factory=dict)  # feature position -> demo concept (built-ins)


def sae_identity(sae, hook: str | None = None, name: str | None = None) -> SAEIdentity:
    """Identity of a loaded core SAE (name = its folder name unless given)."""
    import hashlib

    import torch

    rows = sae.W_dec.detach()[:8].to("cpu", torch.bfloat16).float().numpy()
    fp = hashlib.sha256(rows.tobytes()).hexdigest()[:16]
    if name is None:
        src = getattr(sae, "source_path", None)
        name = Path(src).name if src else sae.cfg.metadata.get("neuronpedia_id", "") or ""
    return SAEIdentity(name=name, d_sae=int(sae.cfg.d_sae), hook=hook or sae.cfg.hook_name, fingerprint=fp)


# --- JSON <-> Preset -----------------------------------------------------------------------------------------
def preset_to_dict(p: Preset) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "name": p.name,
        "description": p.description,
        "model": p.model,
        "sae": asdict(p.sae),
        "steering": {
            "multiplier": p.steering.multiplier,
            "skip_special": p.steering.skip_special,
            "features": [
                {"id": s.feature, "label": s.label, "strength": s.strength, "unit": s.unit, "method": s.method,
                 "enabled": s.enabled}
                for s in p.steering.features
            ],
        },
        "sampling": asdict(p.sampling),
        "system": p.system,
    }


def preset_to_json(p: Preset) -> str:
    return json.dumps(preset_to_dict(p), indent=2, ensure_ascii=False) + "\n"


def _num(v, what: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if not is_finite(v) or not lo <= v <= hi:
        rng = f" in [{lo:g}, {hi:g}]" if math.isfinite(lo) or math.isfinite(hi) else ""
        raise PresetError(f"{what} must be a finite number{rng}, got {_show(v)}")
    return float(v)


def _str(v, what: str, max_len: int = 10_000) -> str:
    if not isinstance(v, str) or len(v) > max_len:
        raise PresetError(f"{what} must be a text of at most {max_len} characters, got {type(v).__name__}")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800"): parses, but could never be saved again
        raise PresetError(f"{what} holds an invalid character (a lone UTF-16 surrogate)") from None
    return v


def parse_preset(text: str | bytes, where: str = "preset", demo: dict[str, dict] | None = None) -> Preset:
    """Parse and validate a preset's JSON (structure, types, ranges). Raises PresetError."""
    try:
        d = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise PresetError(f"{where} is not valid JSON: {e}") from None
    except RecursionError:
        raise PresetError(f"{where} is nested too deeply to be a preset") from None
    if not isinstance(d, dict):
        raise PresetError(f"{where} must hold a JSON object, not {type(d).__name__}")
    if d.get("schema") != SCHEMA:
        raise PresetError(f"{where} is not a Desktop SAE preset (missing \"schema\": \"{SCHEMA}\")")
    ver = d.get("version")
    if not isinstance(ver, int) or isinstance(ver, bool) or ver < 1:
        raise PresetError(f"{where}: bad schema version {_show(ver)}")
    if ver > SCHEMA_VERSION:
        raise PresetError(f"{where} was written by a newer Desktop SAE (preset version {_show(ver)}, this one reads {SCHEMA_VERSION})")
    name = _str(d.get("name", ""), f"{where}: name", MAX_NAME).strip() or "untitled"
    sae_d = d.get("sae") or {}
    if not isinstance(sae_d, dict):
        raise PresetError(f"{where}: \"sae\" must be an object")
    d_sae = sae_d.get("d_sae", 0)
    if isinstance(d_sae, bool) or not isinstance(d_sae, int) or d_sae < 0:
        raise PresetError(f"{where}: sae.d_sae must be a non-negative integer, got {_show(d_sae)}")
    ident = SAEIdentity(
        name=_str(sae_d.get("name", ""), f"{where}: sae.name", 300),
        d_sae=d_sae,
        hook=_str(sae_d.get("hook", ""), f"{where}: sae.hook", 300),
        fingerprint=_str(sae_d.get("fingerprint", ""), f"{where}: sae.fingerprint", 128),
    )
    st = d.get("steering")
    if not isinstance(st, dict):
        raise PresetError(f"{where}: missing \"steering\" object")
    feats = st.get("features", [])
    if not isinstance(feats, list) or len(feats) > MAX_FEATURES:
        raise PresetError(f"{where}: steering.features must be a list of at most {MAX_FEATURES} entries")
    specs, refs = [], {}
    for i, f in enumerate(feats):
        w = f"{where}: steering.features[{i}]"
        if not isinstance(f, dict):
            raise PresetError(f"{w} must be an object")
        fid = f.get("id")
        if fid is None and "demo" in f:
            concept = _str(f["demo"], f"{w}.demo", 100)
            if demo is None:
                raise PresetError(f"{w} names demo concept {concept!r}, but no demo feature list (resources/demo_features.json) is installed")
            if concept not in demo:
                raise PresetError(f"{w} names unknown demo concept {concept!r} (known: {', '.join(sorted(demo)) or 'none'})")
            f = {**{k: v for k, v in demo[concept].items() if k != "id"}, **f}  # the preset's own values win
            fid = demo[concept]["id"]
            refs[i] = concept
        if isinstance(fid, bool) or not isinstance(fid, int) or fid < 0:
            raise PresetError(f"{w}.id must be a non-negative integer feature id, got {_show(fid)}")
        unit = f.get("unit", "raw")
        if unit not in UNITS:
            raise PresetError(f"{w}.unit must be one of {', '.join(UNITS)}, got {_show(unit)}")
        method = f.get("method", "add")
        if not isinstance(method, str) or method.lower() not in METHOD_ALIASES:
            raise PresetError(f"{w}.method must be add, clamp or orth, got {_show(method)}")
        enabled = f.get("enabled", True)
        if not isinstance(enabled, bool):
            raise PresetError(f"{w}.enabled must be true or false, got {_show(enabled)}")
        specs.append(
            SteerSpec(
                feature=fid,
                strength=_num(f.get("strength"), f"{w}.strength", -1e6, 1e6),
                unit=unit,
                method=METHOD_ALIASES[method.lower()],
                enabled=enabled,
                label=_str(f.get("label", ""), f"{w}.label", 300),
            )
        )
    skip = st.get("skip_special", True)
    if not isinstance(skip, bool):
        raise PresetError(f"{where}: steering.skip_special must be true or false")
    steering = SteeringConfig(tuple(specs), _num(st.get("multiplier", 1.0), f"{where}: steering.multiplier", -100, 100), skip)
    sampling = _parse_sampling(d.get("sampling", {}), where)
    system = d.get("system")
    if system is not None:
        system = _str(system, f"{where}: system")
    return Preset(
        name=name,
        steering=steering,
        sampling=sampling,
        model=_str(d.get("model", ""), f"{where}: model", 300),
        sae=ident,
        system=system,
        description=_str(d.get("description", ""), f"{where}: description", 2000),
        demo_refs=refs,
    )


def _parse_sampling(s, where: str) -> SamplingConfig:
    if not isinstance(s, dict):
        raise PresetError(f"{where}: \"sampling\" must be an object")
    unknown = set(s) - set(_SAMPLING_KEYS)
    if unknown:
        raise PresetError(f"{where}: unknown sampling setting(s): {', '.join(sorted(unknown))}")
    kw: dict[str, Any] = {}
    for key, val in s.items():
        w = f"{where}: sampling.{key}"
        if key == "seed":
            if val is not None and (isinstance(val, bool) or not isinstance(val, int) or not 0 <= val < 2**63):
                raise PresetError(f"{w} must be a non-negative integer or null, got {_show(val)}")
            kw[key] = val
        elif key in ("top_k", "max_new_tokens"):
            if isinstance(val, bool) or not isinstance(val, int) or not 0 <= val <= 100_000:
                raise PresetError(f"{w} must be an integer in [0, 100000], got {_show(val)}")
            kw[key] = val
        else:
            lo, hi = {"temperature": (0, 100), "top_p": (1e-9, 1), "repetition_penalty": (1e-9, 100)}.get(key, (-100, 100))
            kw[key] = _num(val, w, lo, hi)
    try:
        return SamplingConfig(**kw).validate()
    except ValueError as e:
        raise PresetError(f"{where}: {e}") from None


def check_preset(p: Preset, current: SAEIdentity | None, max_activation=None) -> None:
    """Check a parsed preset against the loaded SAE; raises PresetError, changes nothing."""
    if not p.steering.features:
        return
    if current is None:
        raise PresetError(f"preset {p.name!r} steers features, but no SAE is loaded")
    want = p.sae
    if want.d_sae and want.d_sae != current.d_sae:
        raise PresetError(f"preset {p.name!r} was made for another SAE: {want.describe()}; loaded: {current.describe()}")
    if want.hook and current.hook and want.hook != current.hook:
        raise PresetError(f"preset {p.name!r} was made for an SAE at {want.hook}; the loaded SAE is at {current.hook}")
    if want.fingerprint and current.fingerprint and want.fingerprint != current.fingerprint:
        raise PresetError(f"preset {p.name!r} was made for another SAE ({want.describe()}); its weights differ from the loaded one")
    if not want.fingerprint and want.name and current.name and want.name != current.name:
        raise PresetError(f"preset {p.name!r} was made for SAE {want.name!r}; the loaded SAE is {current.name!r}")
    for s in p.steering.features:
        if not 0 <= s.feature < current.d_sae:
            raise PresetError(f"preset {p.name!r}: feature {s.feature} does not exist (this SAE has 0..{current.d_sae - 1})")
        if s.unit == "max":
            ok = max_activation is not None and math.isfinite(float(max_activation[s.feature])) and float(max_activation[s.feature]) > 0
            if not ok:
                raise PresetError(f"preset {p.name!r}: feature {s.feature} is given in × max activation, but this SAE has no statistics for it")


# --- demo features -------------------------------------------------------------------------------------------
def load_demo_features(path: Path | None = None) -> dict[str, dict] | None:
    """Concept -> {"id", and where given "strength", "unit", "method", "label"} from ``resources/demo_features.json``
    (None if absent or unreadable). Accepts a list of objects under "concepts" or "features" (keys "concept"/"name",
    "feature"/"id"), or a plain {concept: id} mapping."""
    path = path or paths.resources_dir() / "demo_features.json"
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(d, dict):
        for key in ("concepts", "features"):
            if isinstance(d.get(key), (list, dict)):
                d = d[key]
                break
    out: dict[str, dict] = {}
    items = d.items() if isinstance(d, dict) else ((None, e) for e in d) if isinstance(d, list) else ()
    for key, val in items:
        entry: dict = {}
        if isinstance(val, dict):
            key = key or val.get("concept") or val.get("name") or val.get("key")
            entry = {k: val[k] for k in ("strength", "unit", "method", "label") if k in val}
            val = val.get("feature", val.get("id"))
        if isinstance(key, str) and isinstance(val, int) and not isinstance(val, bool):
            out[key] = {"id": val, **entry}
    return out


def demo_feature_labels(sae_path, demo_path: Path | None = None) -> dict[int, str]:
    """Feature id -> "demo: <concept label>" for the bundled default SAE, so that its measured demo features can be
    found by what they steer to (the music feature's automatic label names its top tokens, not music). Empty for
    any other SAE: the demo list was measured on the bundled one only."""
    bundled = paths.default_sae_dir()
    if sae_path is None or bundled is None:
        return {}
    try:
        if Path(sae_path).resolve() != bundled.resolve():
            return {}
    except OSError:
        return {}
    demo = load_demo_features(demo_path) or {}
    return {e["id"]: f"demo: {e.get('label') or concept}" for concept, e in demo.items()}


# --- store ---------------------------------------------------------------------------------------------------
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip(" .") or "preset"
    if s.split(".")[0].strip().lower() in _RESERVED:  # device names on Windows, whatever the extension
        s = "_" + s
    return s[:MAX_NAME]


@dataclass(frozen=True)
class PresetEntry:
    name: str
    path: Path
    builtin: bool


class PresetStore:
    """User presets in ``root`` (default ``data_dir()/presets``) plus built-ins from ``resources/presets``."""

    RECENT_FILE = "recent.json"
    MAX_RECENT = 8

    def __init__(self, root: Path | None = None, builtin_dir: Path | None = None):
        self.root = Path(root) if root is not None else paths.data_dir() / "presets"
        self.builtin_dir = Path(builtin_dir) if builtin_dir is not None else paths.resources_dir() / "presets"

    def path_for(self, name: str) -> Path:
        slug = _slug(name)
        if f"{slug}.json".lower() == self.RECENT_FILE:  # a preset named "recent" must not become the recent list
            slug += "_"
        return self.root / f"{slug}.json"

    def entries(self) -> list[PresetEntry]:
        out = []
        for folder, builtin in ((self.builtin_dir, True), (self.root, False)):
            if folder.is_dir():
                for p in sorted(folder.glob("*.json")):
                    if p.name != self.RECENT_FILE:
                        out.append(PresetEntry(_display_name(p), p, builtin))
        return out

    def read(self, path: str | Path) -> Preset:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise PresetError(f"cannot read preset {path}: {e.strerror or e}") from None
        if len(raw) > 1_000_000:
            raise PresetError(f"{path.name} is too large to be a preset ({len(raw)} bytes)")
        demo = load_demo_features() if b'"demo"' in raw else None
        return parse_preset(raw, path.name, demo)

    def save(self, preset: Preset, overwrite: bool = True) -> Path:
        path = self.path_for(preset.name)
        if path.exists() and not overwrite:
            raise PresetError(f"a preset named {preset.name!r} already exists")
        atomic_write_text(path, preset_to_json(preset))
        self.touch_recent(path)
        return path

    def rename(self, path: str | Path, new_name: str) -> Path:
        path = Path(path)
        self._check_user(path)
        new_name = new_name.strip()
        if not new_name or len(new_name) > MAX_NAME:
            raise PresetError(f"a preset name needs 1 to {MAX_NAME} characters")
        p = self.read(path)
        target = self.path_for(new_name)
        if target.exists() and target.resolve() != path.resolve():
            raise PresetError(f"a preset named {new_name!r} already exists")
        atomic_write_text(target, preset_to_json(_with_name(p, new_name)))
        if target.resolve() != path.resolve():
            path.unlink()
        self._replace_recent(path, target)
        return target

    def delete(self, path: str | Path) -> None:
        path = Path(path)
        self._check_user(path)
        try:
            path.unlink()
        except OSError as e:
            raise PresetError(f"cannot delete {path.name}: {e.strerror or e}") from None
        self._replace_recent(path, None)

    def _check_user(self, path: Path) -> None:
        if self.builtin_dir in path.resolve().parents or path.resolve().parent == self.builtin_dir.resolve():
            raise PresetError(f"{path.name} is a built-in preset; save a copy to change it")
        if path.resolve().parent != self.root.resolve() or path.name == self.RECENT_FILE:
            raise PresetError(f"{path} is not in the preset folder ({self.root}); only presets saved there can be "
                              "renamed or deleted")

    # recent list
    def _recent_raw(self) -> list[str]:
        try:
            d = json.loads((self.root / self.RECENT_FILE).read_text(encoding="utf-8"))
            return [p for p in d if isinstance(p, str)] if isinstance(d, list) else []
        except (OSError, ValueError):
            return []

    def recent(self) -> list[Path]:
        return [Path(p) for p in self._recent_raw() if Path(p).exists()][: self.MAX_RECENT]

    def touch_recent(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        self._write_recent([path, *(p for p in self._recent_raw() if p != path)])

    def _replace_recent(self, old: Path, new: Path | None) -> None:
        old_s = str(old.resolve())
        items = [(str(new.resolve()) if new else None) if p == old_s else p for p in self._recent_raw()]
        self._write_recent([p for p in items if p])

    def _write_recent(self, items: list[str]) -> None:
        try:
            atomic_write_text(self.root / self.RECENT_FILE, json.dumps(items[: self.MAX_RECENT], indent=1))
        except OSError:
            pass  # the recent list is a convenience; never fail an operation over it


def _with_name(p: Preset, name: str) -> Preset:
    from dataclasses import replace

    return replace(p, name=name)


def _display_name(path: Path) -> str:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(d, dict) and isinstance(d.get("name"), str) and d["name"].strip():
            return d["name"].strip()[:MAX_NAME]
    except (OSError, ValueError):
        pass
    return path.stem
