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
from .store import Explanation, ExplanationStore, now

MAX_BYTES = 500_000_000


class NeuronpediaExplanationsError(DesktopSAEError):
    """A Neuronpedia explanations file that cannot be read or holds nothing for this SAE."""


def entries_from_bytes(raw: bytes, where: str) -> list[Any]:
    """The entries of an explanations export: a JSON list, ``{"explanations": [...]}`` or JSON lines, gzipped or
    not."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise NeuronpediaExplanationsError(f"{where} is not a readable gzip file: {e}") from None
    if len(raw) > MAX_BYTES:
        raise NeuronpediaExplanationsError(f"{where} is larger than {MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NeuronpediaExplanationsError(f"{where} is not UTF-8 text (nor gzipped text)") from None
    try:
        d = json.loads(text)
    except ValueError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as e:
            raise NeuronpediaExplanationsError(f"{where} is neither JSON nor JSON lines: {e}") from None
    if isinstance(d, dict):
        d = d.get("explanations", [d])
    if not isinstance(d, list):
        raise NeuronpediaExplanationsError(f"{where}: expected a list of explanations")
    return d


def explanations_from_entries(entries: list[Any], d_sae: int, model_id: str | None = None,
                              source: str | None = None, default_date: str = "") -> dict[int, Explanation]:
    """Explanations by feature index; with ``model_id`` / ``source`` entries for other models or sources are
    skipped (compared case-insensitively). The first entry for an index wins; an entry without ``createdAt`` gets
    ``default_date``. Entries that are not explanations of a feature below ``d_sae`` are skipped."""
    out: dict[int, Explanation] = {}
    for e in entries:
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
            f"neuronpedia:{e.get('typeName') or 'unknown'}", str(e.get("createdAt") or default_date)))
    return out


def read_neuronpedia_explanations(path: str | Path, d_sae: int, model_id: str | None = None,
                                  source: str | None = None, default_date: str = "") -> dict[int, Explanation]:
    """The explanations of a file (see ``explanations_from_entries``); raises when none is usable."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise NeuronpediaExplanationsError(f"cannot read {path}: {e}") from None
    out = explanations_from_entries(entries_from_bytes(raw, str(path)), d_sae, model_id, source, default_date)
    if not out:
        where = f" for {model_id}/{source}" if model_id or source else ""
        raise NeuronpediaExplanationsError(f"{path} holds no usable explanation{where}")
    return out


def merge_explanations(store: ExplanationStore, found: dict[int, Explanation], origin: dict[str, Any],
                       replace: bool = False) -> int:
    """Put ``found`` into ``store`` (features already explained are kept unless ``replace``), record where they came
    from in ``store.sae["neuronpedia_imports"]`` (``origin``: the Neuronpedia id, the URL or file, plus the date and
    the count added) and save it atomically. Returns how many explanations were added or replaced."""
    n = 0
    for f, e in found.items():
        if replace or f not in store.explanations:
            store.put(f, e)
            n += 1
    imports = store.sae.get("neuronpedia_imports")
    record = {"source": "neuronpedia", **origin, "date": now(), "added": n, "found": len(found)}
    store.sae["neuronpedia_imports"] = [*(imports if isinstance(imports, list) else []), record]
    store.save()
    return n


def import_neuronpedia_explanations(path: str | Path, store: ExplanationStore, d_sae: int,
                                    model_id: str | None = None, source: str | None = None,
                                    replace: bool = False) -> int:
    """Merge a Neuronpedia export file into ``store`` and save it; features already explained are kept unless
    ``replace``. Returns how many explanations were added or replaced."""
    found = read_neuronpedia_explanations(path, d_sae, model_id, source, default_date=now())
    origin = {"neuronpedia_id": f"{model_id}/{source}" if model_id and source else None, "file": str(path)}
    return merge_explanations(store, found, origin, replace)


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
