"""The preset store: user presets in ``paths.data_dir()/presets`` (atomic writes) beside the read-only built-ins of
``resources/presets/``, the recent list, rename and delete. Built-ins may name features by demo concept
(``"demo": "golden_gate"``), resolved through the demo concepts, which also supply strength, unit and method.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..support import paths
from ..support.atomic import atomic_write_text
from ..support.errors import PresetError
from .demo_concepts import load_demo_concepts
from .file_format import MAX_NAME, Preset, parse_preset, preset_to_json

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

    def __init__(self, root: Path | None = None, builtin_dir: Path | None = None) -> None:
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
        demo = load_demo_concepts() if b'"demo"' in raw else None
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
