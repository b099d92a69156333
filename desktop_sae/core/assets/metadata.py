"""What a model or SAE on disk is, read from its configs and file headers only (no weights are loaded).

``model_meta`` reads a Hugging Face folder's config.json (and its safetensors headers for the parameter count) or
a GGUF header; ``sae_meta`` reads a SAELens cfg.json, a sparsify cfg.json + safetensors header, the array
headers inside a Gemma Scope params.npz, or a released family's configs and weights header as its loader reads
them (``core/sae/families.py``: Gemma Scope 2, Qwen Scope's ``.pt`` walked without unpickling, mwhanna's
transcoders). Nothing is unpickled.
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..support.errors import AssetError, DesktopSAEError, SAEFormatError
from ..support.hf_cache import display_name

if TYPE_CHECKING:
    from ..sae.sae_config import SAEConfig

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
SAE_WEIGHT_FILES = ("sae_weights.safetensors", "sae.safetensors")


@dataclass(frozen=True)
class ModelMeta:
    format: str  # 'hf' | 'gguf'
    name: str
    architecture: str
    hidden_size: int | None
    n_layers: int | None
    n_params: int | None
    dtype: str | None  # as stored

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SAEMeta:
    format: str  # 'saelens' | 'sparsify' | 'gemmascope' | a released family (families.Family)
    d_in: int
    d_sae: int
    hook: str  # where it reads
    model_name: str
    architecture: str
    dtype: str  # as stored
    hook_out: str = ""  # a transcoder: where it writes (and steering goes)
    d_out: int | None = None  # a transcoder: the width it writes

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def n_params(self) -> int:
        d_out = self.d_out or self.d_in
        return self.d_in * self.d_sae + self.d_sae * d_out + self.d_sae + d_out


def disk_size(path: str | Path) -> int:
    """Bytes of a file or of every file under a folder (following hub-cache links to their blobs)."""
    p = Path(path)
    try:
        if p.is_file():
            return p.stat().st_size
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    except OSError:
        return 0


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise AssetError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise AssetError(f"{path} must hold a JSON object")
    return data


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file: {tensor: {dtype, shape, data_offsets}, '__metadata__': …}."""
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            n = struct.unpack("<Q", raw)[0] if len(raw) == 8 else -1
            if not 0 < n < 1 << 27:
                raise AssetError(f"{path} is not a safetensors file")
            header = json.loads(f.read(n))
    except (OSError, ValueError) as e:
        raise AssetError(f"cannot read the safetensors header of {path}: {e}") from None
    if not isinstance(header, dict):
        raise AssetError(f"{path} is not a safetensors file")
    return header


# --- models --------------------------------------------------------------------------------------------------
def hf_weight_files(folder: Path) -> list[Path] | None:
    """The safetensors files a folder's model needs, or None if any is missing (an unfinished download)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(set(read_json(index)["weight_map"].values()))
        except (AssetError, KeyError, AttributeError, TypeError):
            return None
        files = [folder / n for n in names]
        return files if files and all(f.is_file() for f in files) else None
    files = sorted(folder.glob("*.safetensors"))
    return files or None


def _first_int(cfg: dict, *keys: str) -> int | None:
    for k in keys:
        v = cfg.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def model_meta(path: str | Path) -> ModelMeta:
    """Read a model's description from a Hugging Face folder or a .gguf file. Raises AssetError."""
    path = Path(path)
    if path.is_file() and path.suffix == ".gguf":
        from ..engine.gguf_header import gguf_summary

        g = gguf_summary(path)
        return ModelMeta("gguf", path.stem, g["architecture"], g["hidden_size"], g["n_layers"], g["n_params"],
                         g["dtype"])
    if not path.is_dir():
        raise AssetError(f"{path} is neither a model folder nor a .gguf file")
    if not (path / "config.json").is_file():
        raise AssetError(f"{path} is not a Hugging Face model folder (no config.json in it)")
    cfg = read_json(path / "config.json")
    text_cfg = cfg.get("text_config")
    text: dict[str, Any] = text_cfg if isinstance(text_cfg, dict) else {}
    both = {**text, **cfg}
    weights = hf_weight_files(path)
    if weights is None:
        raise AssetError(f"{path} has no complete safetensors weights (an unfinished download, or pickled .bin "
                         f"weights, which this app never loads)")
    n_params = 0
    for w in weights:
        for name, t in safetensors_header(w).items():
            if name != "__metadata__" and isinstance(t, dict):
                n_params += math.prod(int(s) for s in t.get("shape", []))
    arch = cfg.get("model_type") or text.get("model_type") or "?"
    return ModelMeta(
        "hf",
        display_name(path),
        str(arch),
        _first_int(both, "hidden_size", "n_embd", "d_model"),
        _first_int(both, "num_hidden_layers", "n_layer", "num_layers"),
        n_params or None,
        str(both.get("torch_dtype") or both.get("dtype") or "") or None,
    )


# --- SAEs ----------------------------------------------------------------------------------------------------
def _npy_header(zf: zipfile.ZipFile, member: str, where: Path) -> tuple[tuple[int, ...], str]:
    import numpy as np

    try:
        with zf.open(member) as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _fortran, dtype = read(f)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as e:
        raise SAEFormatError(f"{where}: cannot read the header of {member}: {e}") from None
    if dtype.hasobject:
        raise SAEFormatError(f"{where} holds pickled objects, which are never loaded for safety")
    return tuple(int(s) for s in shape), str(dtype)


def _gemmascope_meta(npz: Path) -> SAEMeta:
    from ..sae.formats import _gemmascope_hook

    try:
        with zipfile.ZipFile(npz) as zf:
            shape, dtype = _npy_header(zf, "W_enc.npy", npz)
    except (zipfile.BadZipFile, OSError) as e:
        raise SAEFormatError(f"{npz} is damaged or not an .npz file: {e}") from None
    if len(shape) != 2:
        raise SAEFormatError(f"{npz}: W_enc must be 2-D, has shape {shape}")
    side = npz.parent / "cfg.json"
    extra = read_json(side) if side.is_file() else {}
    hook = extra.get("hook_name") or _gemmascope_hook(npz)
    return SAEMeta("gemmascope", shape[0], shape[1], str(hook or ""), str(extra.get("model_name") or ""), "jumprelu",
                   dtype)


def _sparsify_meta(folder: Path) -> SAEMeta:
    from ..sae.family_layouts import SAFETENSORS_DTYPES
    from ..sae.formats import SPARSIFY_WEIGHTS, _sparsify_hook

    raw = read_json(folder / "cfg.json")
    enc = safetensors_header(folder / SPARSIFY_WEIGHTS).get("encoder.weight")
    if not isinstance(enc, dict) or len(enc.get("shape", [])) != 2:
        raise SAEFormatError(f"{folder / SPARSIFY_WEIGHTS}: no 2-D encoder.weight tensor")
    d_sae, d_in = (int(s) for s in enc["shape"])
    hook = raw.get("hook_name") or _sparsify_hook(folder.name)
    dtype = SAFETENSORS_DTYPES.get(str(enc.get("dtype")), str(enc.get("dtype")))
    return SAEMeta("sparsify", d_in, d_sae, str(hook), str(raw.get("model_name") or ""), "topk", dtype)


def sae_meta(path: str | Path) -> SAEMeta:
    """Read an SAE's description (format, widths, hook, model) from its config. Raises SAEFormatError."""
    from ..sae.families import Family, family_header
    from ..sae.formats import SAELENS_WEIGHTS, detect_format, parse_saelens_cfg

    path = Path(path)
    if not path.exists():
        raise SAEFormatError(f"SAE not found: {path}")
    fmt, folder = detect_format(path)
    try:
        if fmt in set(Family):
            family_cfg, dtype = family_header(fmt, path)
            return _meta(fmt, family_cfg, dtype)
        if fmt == "gemmascope":
            return _gemmascope_meta(path if path.is_file() else folder / "params.npz")
        if fmt == "sparsify":
            return _sparsify_meta(folder)
        cfg = parse_saelens_cfg(read_json(folder / "cfg.json"), folder / "cfg.json")
        w_enc = safetensors_header(folder / SAELENS_WEIGHTS).get("W_enc")
    except AssetError as e:
        raise SAEFormatError(str(e)) from None
    shape = [int(s) for s in w_enc.get("shape", [])] if isinstance(w_enc, dict) else None
    if shape != [cfg.d_in, cfg.d_sae]:
        raise SAEFormatError(f"{folder / SAELENS_WEIGHTS}: W_enc has shape {shape}, but cfg.json describes "
                             f"d_in={cfg.d_in}, d_sae={cfg.d_sae}")
    return _meta("saelens", cfg, cfg.dtype)


def _meta(fmt: str, cfg: SAEConfig, dtype: str) -> SAEMeta:
    return SAEMeta(str(fmt), cfg.d_in, cfg.d_sae, cfg.hook_name, cfg.model_name, cfg.architecture, dtype,
                   cfg.hook_name_out if cfg.hook_name_out != cfg.hook_name else "", cfg.d_out)


def describe_problem(e: Exception) -> str:
    return str(e) if isinstance(e, DesktopSAEError) else f"{type(e).__name__}: {e}"


def human_size(n: float | None) -> str:
    if not n:
        return "—"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def is_sae_folder(folder: Path) -> bool:
    """A folder that is one SAE: SAELens, sparsify, Gemma Scope (params.npz) or Gemma Scope 2."""
    from ..sae.family_layouts import Family, family_of_file

    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    return (("cfg.json" in names and any(w in names for w in SAE_WEIGHT_FILES)) or "params.npz" in names
            or any(family_of_file(n, names) is Family.GEMMA_SCOPE_2 for n in names))


def saes_in(folder: Path) -> list[Path]:
    """The SAEs a folder holds as the registry lists them: the folder itself when it is one SAE, and each file of
    a family that keeps one SAE per file (Qwen Scope's layer<L>.sae.pt, mwhanna's layer_<L>.safetensors)."""
    from ..sae.family_layouts import one_file_saes

    return ([folder] if is_sae_folder(folder) else []) + one_file_saes(folder)


def sae_location(path: Path) -> Path:
    """What the registry lists for the SAE whose file or folder is ``path``: a one-SAE-per-file family's file
    itself, else the folder that holds it."""
    from ..sae.family_layouts import ONE_SAE_PER_FILE, detect_family

    if path.is_file():
        family = detect_family(path)
        return path if family is not None and family[0] in ONE_SAE_PER_FILE else path.parent
    return path
