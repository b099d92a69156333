"""What the feature finders share: the texts they read (from a box or a file), and steering with what they found —
one feature at its default strength, a weighted feature set in one change, or the mean-difference vector at the
length of the top feature's default steering. The searches themselves are runs (``contrast_run``,
``selection_run``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.steering.specs import SteerSpec, weighted_rows
from ..core.support.errors import DesktopSAEError, SteeringError

if TYPE_CHECKING:
    from ..core.features.contrast import ContrastResult
    from ..core.steering.vectors import SteeringVector
    from .loading import ModelInfo
    from .steering_model import SteeringModel

MAX_TEXTS = 500  # per side: each text is one forward pass
MAX_FILE_BYTES = 2 << 20
DEFAULT_X_MAX = 3.0  # a feature's default steering strength in × its max activation (the demo features' setting)


class DiscoverError(DesktopSAEError):
    """Texts or a selection the finders cannot use."""


# --- texts ---------------------------------------------------------------------------------------------------
def split_texts(text: str) -> list[str]:
    """Texts from a text box or file: paragraphs separated by blank lines when there are any (so a text can span
    several lines, e.g. code), else one text per line. Empty ones are dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts = re.split(r"\n[ \t]*\n", text) if re.search(r"\n[ \t]*\n", text.strip()) else text.split("\n")
    return [p.strip() for p in parts if p.strip()]


def read_texts_file(path: str | Path) -> str:
    """A .txt file's text for a text box (UTF-8; undecodable bytes replaced), refused with a message if too big."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DiscoverError(f"{path.name} is {size / 1e6:.1f} MB; texts for the finder must be under "
                                f"{MAX_FILE_BYTES >> 20} MB")
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as e:
        raise DiscoverError(f"cannot read {path.name}: {e.strerror or e}") from None


def check_texts(positives: Sequence[str], negatives: Sequence[str]) -> tuple[list[str], list[str]]:
    pos, neg = [t for t in positives if t.strip()], [t for t in negatives if t.strip()]
    if not pos or not neg:
        raise DiscoverError("give at least one positive and one negative text")
    if len(pos) > MAX_TEXTS or len(neg) > MAX_TEXTS:
        raise DiscoverError(f"at most {MAX_TEXTS} texts per side ({len(pos)} positive, {len(neg)} negative given)")
    return pos, neg


# --- steering with what a finder found ------------------------------------------------------------------------
def default_strength(info: ModelInfo, f: int) -> tuple[float, str]:
    """(strength, unit) for a feature added from a finder: 3× its max activation when the SAE has statistics,
    else a raw strength that moves the residual by a quarter of its typical norm (0 without a typical norm)."""
    if info.has_stats(f):
        return DEFAULT_X_MAX, "max"
    dec = info.dec_norms
    norm = float(dec[f]) if dec is not None and 0 <= f < len(dec) else 0.0
    if not info.typical_norm or norm <= 0:
        return 0.0, "raw"
    return round(0.25 * info.typical_norm / norm, 3), "raw"


def steer_found(steering: SteeringModel, f: int) -> SteerSpec:
    """Add feature ``f`` to the steering set at ``default_strength``; returns its spec."""
    info = steering.model.info
    if info is None:
        raise SteeringError("load a model and an SAE first")
    s, unit = default_strength(info, f)
    return steering.steer(f, s, unit=unit)


def steer_set(steering: SteeringModel, result: ContrastResult) -> tuple[SteerSpec, ...]:
    """Add a contrast's weighted feature set (its first features, each at the set strength x its weight, in one
    change of the steering set); returns the rows added or updated."""
    if not result.set_features or result.set_strength is None:
        raise SteeringError("this search found no feature set to steer with (the SAE needs activation statistics)")
    lead = SteerSpec(result.set_features[0], result.set_strength, "max")
    rows = tuple(replace(r, label=steering.model.label(r.feature))
                 for r in weighted_rows(lead, zip(result.set_features, result.set_weights)))
    steering.add_rows(rows)
    return rows


def vector_strength(info: ModelInfo | None, result: ContrastResult) -> float:
    """A raw strength for the mean-difference vector that gives it the length of the top feature's default
    steering (a matched-norm baseline); 1 (the difference itself) when that cannot be worked out."""
    from ..core.features.contrast import matched_strength

    hit = result.hits[0] if result.hits else None
    if hit is None or info is None or info.dec_norms is None or info.max_activation is None or result.vector.norm == 0:
        return 1.0
    s, unit = default_strength(info, hit.feature)
    raw = s * float(info.max_activation[hit.feature]) if unit == "max" else s
    return round(matched_strength(result.vector, float(info.dec_norms[hit.feature]), raw), 3) or 1.0


def vectors_dir() -> Path:
    from ..core.support.paths import data_dir

    d = data_dir() / "vectors"
    d.mkdir(parents=True, exist_ok=True)
    return d


def default_vector_path(vector: SteeringVector) -> Path:
    """A free file name in the vectors folder, from the vector's name."""
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", vector.name).strip(" ._")[:60] or "vector"
    d = vectors_dir()
    path, n = d / f"{stem}.safetensors", 2
    while path.exists():
        path, n = d / f"{stem} {n}.safetensors", n + 1
    return path
