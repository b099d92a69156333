"""Steering presets: SAE identity, checks against the loaded SAE, the demo features, and the preset store.

Loading is two-step and validates everything before anything is applied: ``parse_preset`` (``core.preset_format``)
checks the file itself and ``check_preset`` checks it against the loaded SAE (identity, feature ids, units that need
statistics); both raise ``PresetError``. ``PresetStore`` keeps user presets in ``paths.data_dir()/presets`` (atomic
writes) next to read-only built-ins from ``resources/presets/``; built-ins may name features by demo concept
(``"demo": "golden_gate"``), resolved via ``resources/demo_features.json`` (which also supplies strength, unit and
method when the preset leaves them out).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from . import paths
from .atomic import atomic_write_text
from .errors import PresetError
from .preset_format import MAX_NAME, Preset, SAEIdentity, parse_preset, preset_to_json


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


def check_preset(p: Preset, current: SAEIdentity | None, max_activation=None) -> None:
    """Check a parsed preset against the loaded SAE; raises PresetError, changes nothing."""
    if not p.steering.features:
        return
    if current is None:
        raise PresetError(f"preset {p.name!r} steers features, but no SAE is loaded")
    want = p.sae
    if want.d_sae and want.d_sae != current.d_sae:
        raise PresetError(
            f"preset {p.name!r} was made for another SAE: {want.describe()}; loaded: {current.describe()}"
        )
    if want.hook and current.hook and want.hook != current.hook:
        raise PresetError(f"preset {p.name!r} was made for an SAE at {want.hook}; the loaded SAE is at {current.hook}")
    if want.fingerprint and current.fingerprint and want.fingerprint != current.fingerprint:
        raise PresetError(
            f"preset {p.name!r} was made for another SAE ({want.describe()}); its weights differ from the loaded one"
        )
    if not want.fingerprint and want.name and current.name and want.name != current.name:
        raise PresetError(f"preset {p.name!r} was made for SAE {want.name!r}; the loaded SAE is {current.name!r}")
    def has_stats(f: int) -> bool:
        mx = None if max_activation is None else float(max_activation[f])
        return mx is not None and math.isfinite(mx) and mx > 0

    for s in p.steering.features:
        if s.when is not None:
            g = s.when[0]
            if not 0 <= g < current.d_sae:
                raise PresetError(f"preset {p.name!r}: condition feature {g} does not exist (this SAE has "
                                  f"0..{current.d_sae - 1})")
            if s.when_unit == "max" and not has_stats(g):
                raise PresetError(f"preset {p.name!r}: the condition on feature {g} is in × max activation, but this "
                                  "SAE has no statistics for it")
        if s.is_vector:  # its width is checked against the hook when it is applied
            continue
        if not 0 <= s.feature < current.d_sae:
            raise PresetError(
                f"preset {p.name!r}: feature {s.feature} does not exist (this SAE has 0..{current.d_sae - 1})"
            )
        if s.unit == "max" and not has_stats(s.feature):
            raise PresetError(f"preset {p.name!r}: feature {s.feature} is given in × max activation, but this SAE "
                              "has no statistics for it")


# --- demo features -------------------------------------------------------------------------------------------
def load_demo_features(path: Path | None = None) -> dict[str, dict] | None:
    """Concept -> {"id", and where given "strength", "unit", "method", "label", "set"} from
    ``resources/demo_features.json`` (None if absent or unreadable). Accepts a list of objects under "concepts" or
    "features" (keys "concept"/"name", "feature"/"id"), or a plain {concept: id} mapping. "set" is a weighted feature
    set ((feature, weight), ...) from the entry's "features" and "weights", when it has them."""
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
            members = _demo_set(val)
            if members:
                entry["set"] = members
            quiz = val.get("quiz_feature")
            if isinstance(quiz, int) and not isinstance(quiz, bool) and quiz >= 0:
                entry["quiz"] = quiz
            val = val.get("feature", val.get("id"))
        if isinstance(key, str) and isinstance(val, int) and not isinstance(val, bool):
            out[key] = {"id": val, **entry}
    return out


def quiz_features(demo: dict[str, dict]) -> list[tuple[int, dict]]:
    """(feature, entry) per demo concept for the mystery-feature quiz: the entry's "quiz_feature" (the set member a
    learner can recognise), else its lead; a feature named by two concepts is kept once."""
    seen: set[int] = set()
    out = []
    for e in demo.values():
        f = int(e.get("quiz", e["id"]))
        if f not in seen:
            seen.add(f)
            out.append((f, e))
    return out


def _demo_set(entry: dict) -> tuple[tuple[int, float], ...]:
    feats, weights = entry.get("features"), entry.get("weights")
    if not isinstance(feats, list) or len(feats) < 2:
        return ()
    weights = weights if isinstance(weights, list) and len(weights) == len(feats) else [1.0] * len(feats)
    ok = all(isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in feats) and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in weights)
    return tuple((int(f), float(w)) for f, w in zip(feats, weights)) if ok else ()


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
    names: dict[int, list[str]] = {}
    for concept, e in demo.items():
        for f, _w in e.get("set") or ((e["id"], 1.0),):
            names.setdefault(f, []).append(e.get("label") or concept)
    return {f: "demo: " + " · ".join(n) for f, n in names.items()}


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
        atomic_write_text(target, preset_to_json(replace(p, name=new_name)))
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


def _display_name(path: Path) -> str:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(d, dict) and isinstance(d.get("name"), str) and d["name"].strip():
            return d["name"].strip()[:MAX_NAME]
    except (OSError, ValueError):
        pass
    return path.stem
