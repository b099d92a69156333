"""Explanations in Neuronpedia's export fields (``/api/explanation/export`` and their bulk exports): per entry
``modelId``, ``layer`` (the source id, e.g. "12-res-jb"), ``index`` (a string or a number), ``description``,
``explanationModelName``, ``typeName`` (e.g. "oai_token-act-pair"); other fields are ignored. Files may be a JSON
list, a JSON object with an ``explanations`` list, or JSON lines, each optionally gzipped. The model and source ids
come from the caller (``core.interop.neuronpedia_ids`` knows ours)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from ..support.atomic import atomic_write_text
from ..support.errors import DesktopSAEError
from . import protocol
from .store import Explanation, ExplanationStore

MAX_BYTES = 500_000_000


class NeuronpediaExplanationsError(DesktopSAEError):
    """A Neuronpedia explanations file that cannot be read or holds nothing for this SAE."""


def _entries(path: Path) -> list[Any]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) > MAX_BYTES:
        raise NeuronpediaExplanationsError(f"{path} is larger than {MAX_BYTES} bytes")
    text = raw.decode("utf-8")
    try:
        d = json.loads(text)
    except ValueError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as e:
            raise NeuronpediaExplanationsError(f"{path} is neither JSON nor JSON lines: {e}") from None
    if isinstance(d, dict):
        d = d.get("explanations", [d])
    if not isinstance(d, list):
        raise NeuronpediaExplanationsError(f"{path}: expected a list of explanations")
    return d


def read_neuronpedia_explanations(path: str | Path, d_sae: int, model_id: str | None = None,
                                  source: str | None = None) -> dict[int, Explanation]:
    """Explanations by feature index; with ``model_id`` / ``source`` entries for other models or sources are
    skipped (compared case-insensitively). The first entry for an index wins. Raises when none is usable."""
    out: dict[int, Explanation] = {}
    for e in _entries(Path(path)):
        if not isinstance(e, dict):
            continue
        if model_id and str(e.get("modelId", "")).lower() != model_id.lower():
            continue
        if source and str(e.get("layer", "")).lower() != source.lower():
            continue
        idx, text = str(e.get("index", "")), e.get("description")
        if not idx.isdigit() or int(idx) >= d_sae or not isinstance(text, str) or not text.strip():
            continue
        out.setdefault(int(idx), Explanation(
            text.strip(), protocol.Method.NEURONPEDIA, str(e.get("explanationModelName") or ""),
            f"neuronpedia:{e.get('typeName') or 'unknown'}", str(e.get("createdAt") or "")))
    if not out:
        where = f" for {model_id}/{source}" if model_id or source else ""
        raise NeuronpediaExplanationsError(f"{path} holds no usable explanation{where}")
    return out


def import_neuronpedia_explanations(path: str | Path, store: ExplanationStore, d_sae: int,
                                    model_id: str | None = None, source: str | None = None,
                                    replace: bool = False) -> int:
    """Merge a Neuronpedia export into ``store`` and save it; features already explained are kept unless
    ``replace``. Returns how many explanations were added or replaced."""
    n = 0
    for f, e in read_neuronpedia_explanations(path, d_sae, model_id, source).items():
        if replace or f not in store.explanations:
            store.put(f, e)
            n += 1
    store.save()
    return n


def neuronpedia_entries(store: ExplanationStore, model_id: str, source: str) -> list[dict[str, str]]:
    """The store's explanations as Neuronpedia entries; ``typeName`` is our protocol version (or, for an
    imported one, its own type)."""
    return [{"modelId": model_id, "layer": source, "index": str(f), "description": e.text,
             "explanationModelName": e.explainer, "typeName": e.protocol.removeprefix("neuronpedia:")}
            for f, e in sorted(store.explanations.items())]


def export_neuronpedia_explanations(store: ExplanationStore, path: str | Path, model_id: str, source: str) -> int:
    """Write the store's explanations as a JSON list in Neuronpedia's fields; returns how many."""
    entries = neuronpedia_entries(store, model_id, source)
    atomic_write_text(path, json.dumps(entries, ensure_ascii=False, indent=1))
    return len(entries)
