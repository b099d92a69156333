"""Import a model or SAE that lives elsewhere on disk: validate it by its format, then remember it in
``<data dir>/imports.json`` (written atomically; the files themselves stay where they are)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..sae.family_layouts import GEMMASCOPE2_WEIGHTS
from ..support import paths
from ..support.atomic import atomic_write_text
from ..support.errors import AssetError, DesktopSAEError
from .metadata import describe_problem, model_meta, sae_meta

if TYPE_CHECKING:
    from .entries import Asset

IMPORTS_FILE = "imports.json"
KNOWN_FORMATS = (
    "a Hugging Face model folder (config.json + .safetensors weights), a .gguf model file, a SAELens SAE folder "
    "(cfg.json + sae_weights.safetensors), an EleutherAI sparsify SAE folder (cfg.json + sae.safetensors), a "
    "Gemma Scope params.npz, a Gemma Scope 2 folder (params.safetensors + config.json), a Qwen Scope "
    "layer<L>.sae.pt or an mwhanna transcoder layer_<L>.safetensors beside its wandb-config.yaml"
)


def imports_path() -> Path:
    return paths.data_dir() / IMPORTS_FILE


def read_imports(strict: bool = False) -> list[dict]:
    """The remembered imports; a damaged file lists nothing (``strict``: raises instead)."""
    p = imports_path()
    if not p.exists():
        return []
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        recs = [r for r in data["imports"] if isinstance(r, dict) and r.get("kind") in ("model", "sae")
                and isinstance(r.get("path"), str) and isinstance(r.get("name"), str)]
    except (OSError, ValueError, KeyError, TypeError) as e:
        if strict:
            raise AssetError(f"{p} is damaged ({type(e).__name__}); fix or delete it, then import again") from None
        return []
    return recs


def _write(records: list[dict]) -> None:
    atomic_write_text(imports_path(), json.dumps({"version": 1, "imports": records}, indent=1) + "\n")


def classify_local(path: Path) -> tuple[str, str]:
    """('model' | 'sae', format) for a local file or folder, checked by reading its configs. Raises AssetError
    saying what it is not, or why a file that looks like a known format cannot be read."""
    from ..sae.family_layouts import detect_family
    from ..sae.formats import detect_format

    is_model = (path.is_file() and path.suffix == ".gguf") or (path.is_dir() and (path / "config.json").is_file())
    if is_model and detect_family(path) is None:  # (a Gemma Scope 2 folder has a config.json too)
        return "model", model_meta(path).format
    try:
        fmt, _folder = detect_format(path)
    except DesktopSAEError:
        raise AssetError(f"{path} is not a model or SAE this app reads. It reads {KNOWN_FORMATS}.") from None
    try:
        return "sae", sae_meta(path).format
    except DesktopSAEError as e:
        raise AssetError(f"{path} looks like a {fmt} SAE but cannot be used: {describe_problem(e)}") from None


def import_asset(path: str | Path, name: str | None = None) -> Asset:
    """Validate ``path`` and register it (a second import of the same path renames it). Returns its Asset."""
    from .entries import model_asset, sae_asset

    p = Path(path).expanduser()
    if not p.exists():
        raise AssetError(f"nothing to import: {p} does not exist")
    p = p.resolve()
    if p.is_file() and p.name in ("cfg.json", "sae_weights.safetensors", "sae.safetensors", GEMMASCOPE2_WEIGHTS):
        p = p.parent  # an SAE folder is imported whole
    kind, fmt = classify_local(p)
    records = read_imports(strict=True)
    default = p.parent.name if p.name == "params.npz" else p.name.removesuffix(".sae.pt") if p.name.endswith(
        ".sae.pt") else p.stem if p.is_file() else p.name
    name = (name or "").strip() or default
    rec = {"kind": kind, "path": str(p), "name": name, "format": fmt, "added": time.strftime("%Y-%m-%dT%H:%M:%S")}
    _write([r for r in records if r["path"] != str(p)] + [rec])
    make = model_asset if kind == "model" else sae_asset
    return make(f"imported:{p}", name, "imported", p)


def forget_import(path: str | Path) -> bool:
    """Remove an import from the list (its files stay). True if it was there."""
    records = read_imports(strict=True)
    keep = [r for r in records if r["path"] != str(Path(path))]
    if len(keep) == len(records):
        return False
    _write(keep)
    return True
