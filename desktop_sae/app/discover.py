"""Finding features: the contrastive finder's job (features that fire more on positive than on negative texts, and
the mean-difference vector) and the "features on this selection" job (features over a span of a chat answer, read
in context). Both run on the job runner; the heavy maths lives in ``core.contrast`` and ``core.features``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..core.support.errors import DesktopSAEError
from .tasks import NotReady

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


def check_texts(positives, negatives) -> tuple[list[str], list[str]]:
    pos, neg = [t for t in positives if t.strip()], [t for t in negatives if t.strip()]
    if not pos or not neg:
        raise DiscoverError("give at least one positive and one negative text")
    if len(pos) > MAX_TEXTS or len(neg) > MAX_TEXTS:
        raise DiscoverError(f"at most {MAX_TEXTS} texts per side ({len(pos)} positive, {len(neg)} negative given)")
    return pos, neg


# --- the contrastive finder ----------------------------------------------------------------------------------
def contrast_job(positives, negatives, top: int = 50):
    """Rank the SAE's features by how much more they fire on ``positives``; returns a ``core.contrast
    .ContrastResult``. Progress per text; a cancel is honoured before the next text."""
    pos, neg = check_texts(positives, negatives)

    def fn(session, state):
        from ..core.features.contrast import contrast

        if session is None or session.sae is None:
            raise NotReady("load a model and an SAE first")
        try:
            return contrast(session, pos, neg, top, state.progress, state.cancelled)
        except InterruptedError:
            return None

    return fn


def find_by_contrast(ctl, positives, negatives, top: int = 50, **callbacks) -> int:
    """Start the finder on the job runner (kind ``contrast``: a new search replaces one still running)."""
    return ctl.run_job("contrast", contrast_job(positives, negatives, top), **callbacks)


def default_strength(info, f: int) -> tuple[float, str]:
    """(strength, unit) for a feature added from a finder: 3× its max activation when the SAE has statistics,
    else a raw strength that moves the residual by a quarter of its typical norm (0 without a typical norm)."""
    if info.has_stats(f):
        return DEFAULT_X_MAX, "max"
    dec = info.dec_norms
    norm = float(dec[f]) if dec is not None and 0 <= f < len(dec) else 0.0
    if not info.typical_norm or norm <= 0:
        return 0.0, "raw"
    return round(0.25 * info.typical_norm / norm, 3), "raw"


def steer_found(ctl, f: int):
    """Add feature ``f`` to the steering set at ``default_strength``; returns its spec."""
    s, unit = default_strength(ctl.state.info, f)
    return ctl.steer(f, s, unit=unit)


def steer_set(ctl, result) -> tuple:
    """Add a contrast's weighted feature set (its first features, each at the set strength x its weight, in one
    change of the steering set); returns the rows added or updated."""
    from dataclasses import replace

    from ..core.steering.specs import SteerSpec, weighted_rows
    from ..core.support.errors import SteeringError

    if not result.set_features or result.set_strength is None:
        raise SteeringError("this search found no feature set to steer with (the SAE needs activation statistics)")
    lead = SteerSpec(result.set_features[0], result.set_strength, "max")
    rows = {r.feature: replace(r, label=ctl.state.label(r.feature))
            for r in weighted_rows(lead, zip(result.set_features, result.set_weights))}
    cfg = ctl.state.steering
    kept = tuple(s for s in cfg.features if s.feature not in rows)
    ctl.set_steering(replace(cfg, features=(*kept, *rows.values())))
    return tuple(rows.values())


def vector_strength(info, result) -> float:
    """A raw strength for the mean-difference vector that gives it the length of the top feature's default
    steering (a matched-norm baseline); 1 (the difference itself) when that cannot be worked out."""
    from ..core.features.contrast import matched_strength

    hit = result.hits[0] if result.hits else None
    if hit is None or info is None or info.dec_norms is None or result.vector.norm == 0:
        return 1.0
    s, unit = default_strength(info, hit.feature)
    raw = s * float(info.max_activation[hit.feature]) if unit == "max" else s
    return round(matched_strength(result.vector, float(info.dec_norms[hit.feature]), raw), 3) or 1.0


def vectors_dir() -> Path:
    from ..core.support.paths import data_dir

    d = data_dir() / "vectors"
    d.mkdir(parents=True, exist_ok=True)
    return d


def default_vector_path(vector) -> Path:
    """A free file name in the vectors folder, from the vector's name."""
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", vector.name).strip(" ._")[:60] or "vector"
    d = vectors_dir()
    path, n = d / f"{stem}.safetensors", 2
    while path.exists():
        path, n = d / f"{stem} {n}.safetensors", n + 1
    return path


# --- features on a selection of a chat answer -----------------------------------------------------------------
@dataclass(frozen=True)
class SpanRequest:
    """A span of one assistant answer: the conversation before it, the answer's tokens, the selected positions."""

    messages: tuple[dict, ...]
    system: str | None
    prompt_len: int  # position of the answer's first token in the sequence it was generated in
    answer_ids: tuple[int, ...]
    start: int  # sequence positions start..end-1
    end: int
    text: str  # the selected tokens' text (for the title)


def span_request(state, run: str, indices) -> SpanRequest:
    """The request for the selected token positions ``indices`` of one answer (``run`` 'main', 'steered' or
    'default'); refuses a selection across answers or outside any finished answer."""
    indices = sorted(set(int(i) for i in indices))
    if not indices:
        raise DiscoverError("select some tokens of an answer first")
    for k, turn in enumerate(state.turns):
        evs = turn.events.get(run) if turn.role == "assistant" else None
        if not evs:
            continue
        have = {ev.index for ev in evs}
        if indices[0] not in have:
            continue
        if not set(indices) <= have:
            raise DiscoverError("the selection spans more than one message: select tokens of one answer")
        messages = tuple({"role": t.role, "content": t.content} for t in state.turns[:k]
                         if t.role in ("user", "assistant"))
        start, end = indices[0], indices[-1] + 1
        text = "".join(ev.text for ev in evs if start <= ev.index < end)
        return SpanRequest(messages, state.system.strip() or None, evs[0].index,
                           tuple(ev.token_id for ev in evs), start, end, text)
    raise DiscoverError("the selection is not in a finished answer")


def span_job(req: SpanRequest, top: int = 20):
    """``core.features.features_on_span`` over the answer's tokens in their conversation (no steering)."""

    def fn(session, _state):
        from ..core.features.readout import features_on_span

        if session is None or session.sae is None:
            raise NotReady("load a model and an SAE first")
        prompt = session.prompt_ids(list(req.messages), req.system)
        if len(prompt) != req.prompt_len:
            raise DiscoverError("the conversation or the system prompt changed since this answer was written; "
                                "regenerate it to read its features in context")
        return features_on_span(session, [*prompt, *req.answer_ids], req.start, req.end, top)

    return fn


def text_job(text: str, top: int = 20):
    """Features of a plain text read on its own (a selection that holds no answer tokens)."""

    def fn(session, _state):
        from ..core.features.readout import features_on_text

        if session is None or session.sae is None:
            raise NotReady("load a model and an SAE first")
        return features_on_text(session, text, top)

    return fn
