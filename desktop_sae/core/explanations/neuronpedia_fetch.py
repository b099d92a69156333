"""Fetch an SAE's explanations from Neuronpedia's public exports (its ``/api/explanation/export`` endpoint now points
there): the bucket ``v1/<model id>/<source id>/explanations/`` holds ``batch-<n>.jsonl.gz`` files in the fields
``neuronpedia_fields`` reads. The folder is listed (S3's ListObjectsV2, a few requests), then each batch is
downloaded in chunks, with progress and a cancel checked between chunks. Everything is read and checked before
anything is written: an answer that is not a listing, a batch that is not gzipped JSON lines, or no usable
explanation raises ``NeuronpediaExplanationsError`` and leaves the SAE's files as they were.

``DESKTOP_SAE_NEURONPEDIA_DATASETS`` replaces the bucket's address (a mirror, or the tests' loopback server).
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..assets.sae_neuronpedia import valid_neuronpedia_id
from ..support.errors import Cancelled
from .neuronpedia_fields import (
    NeuronpediaExplanationsError,
    entries_from_bytes,
    explanations_from_entries,
    merge_explanations,
)
from .store import Explanation, ExplanationStore, now

DATASETS_ENV = "DESKTOP_SAE_NEURONPEDIA_DATASETS"
DATASETS_URL = "https://neuronpedia-datasets.s3.us-east-1.amazonaws.com"
TIMEOUT_S = 20.0
CHUNK = 1 << 16
MAX_LISTING_BYTES = 5_000_000
MAX_PAGES = 50
_S3 = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_BATCH = re.compile(r"batch-(\d+)\.jsonl(?:\.gz)?$")

Progress = Callable[[float | None, str], None]


@dataclass(frozen=True)
class Fetched:
    neuronpedia_id: str
    url: str  # the explanations folder
    batches: int
    bytes: int
    explanations: dict[int, Explanation]


def datasets_url() -> str:
    return (os.environ.get(DATASETS_ENV) or DATASETS_URL).rstrip("/")


def split_neuronpedia_id(neuronpedia_id: str) -> tuple[str, str]:
    """("model id", "source id") of a "model/source" id; a malformed one is refused with a message."""
    ok = valid_neuronpedia_id(neuronpedia_id)
    if ok is None:
        raise NeuronpediaExplanationsError(f"{neuronpedia_id!r} is not a Neuronpedia id such as "
                                           f"gemma-3-270m-it/12-gemmascope-2-res-16k")
    model, source = ok.split("/", 1)
    return model, source


def _get(url: str, what: str, cancelled: Callable[[], bool], on_chunk: Callable[[int], None] | None = None,
         limit: int | None = None) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            parts: list[bytes] = []
            got = 0
            while True:
                if cancelled():
                    raise Cancelled("the Neuronpedia fetch was cancelled; nothing was written")
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                parts.append(chunk)
                got += len(chunk)
                if limit is not None and got > limit:
                    raise NeuronpediaExplanationsError(f"{what} at {url} is larger than {limit} bytes")
                if on_chunk is not None:
                    on_chunk(len(chunk))
            return b"".join(parts)
    except urllib.error.HTTPError as e:
        raise NeuronpediaExplanationsError(f"{what}: HTTP {e.code} from {url}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise NeuronpediaExplanationsError(f"{what}: cannot reach {url} ({reason}); fetch when online, or import an "
                                           f"explanations export file instead") from None


def list_batches(model: str, source: str, cancelled: Callable[[], bool] = lambda: False) -> list[tuple[str, int]]:
    """(key, size) of each explanations batch of ``model/source``, in batch order."""
    base = datasets_url()
    prefix = f"v1/{model}/{source}/explanations/"
    found: list[tuple[str, int]] = []
    token: str | None = None
    for _page in range(MAX_PAGES):
        query = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
        url = f"{base}/?{urllib.parse.urlencode(query)}"
        raw = _get(url, "listing Neuronpedia's exports", cancelled, limit=MAX_LISTING_BYTES)
        try:
            root = ET.fromstring(raw)
        except ET.ParseError as e:
            raise NeuronpediaExplanationsError(f"{url} did not answer with a listing of Neuronpedia's exports "
                                               f"(not XML: {e})") from None
        if root.tag != f"{_S3}ListBucketResult":
            raise NeuronpediaExplanationsError(f"{url} did not answer with a listing of Neuronpedia's exports "
                                               f"(got <{root.tag.removeprefix(_S3)}>)")
        for c in root.iter(f"{_S3}Contents"):
            key, size = c.findtext(f"{_S3}Key") or "", c.findtext(f"{_S3}Size") or "0"
            if _BATCH.search(key) and key.startswith(prefix) and "/" not in key[len(prefix):]:
                found.append((key, int(size) if size.isdigit() else 0))
        token = root.findtext(f"{_S3}NextContinuationToken")
        if root.findtext(f"{_S3}IsTruncated") != "true" or not token:
            break
    else:
        raise NeuronpediaExplanationsError(f"the listing of {prefix} did not end after {MAX_PAGES} pages")
    return sorted(found, key=lambda kv: int(_BATCH.search(kv[0]).group(1)))  # type: ignore[union-attr]


def fetch_explanations(neuronpedia_id: str, d_sae: int, progress: Progress | None = None,
                       cancelled: Callable[[], bool] = lambda: False) -> Fetched:
    """Every explanation Neuronpedia exports for ``model/source`` (features below ``d_sae``); nothing is written."""
    report = progress or (lambda f, m: None)
    model, source = split_neuronpedia_id(neuronpedia_id)
    base = datasets_url()
    folder = f"{base}/v1/{model}/{source}/explanations/"
    report(None, f"Listing Neuronpedia's explanations of {model}/{source}")
    batches = list_batches(model, source, cancelled)
    if not batches:
        raise NeuronpediaExplanationsError(f"Neuronpedia exports no explanations for {model}/{source} "
                                           f"(nothing under {folder})")
    total = sum(size for _k, size in batches) or None
    done = 0
    entries: list[object] = []
    for i, (key, _size) in enumerate(batches):
        url = f"{base}/{urllib.parse.quote(key)}"

        def moved(n: int, i: int = i) -> None:
            nonlocal done
            done += n
            report(done / total if total else None, f"Batch {i + 1} of {len(batches)} ({done / 1e6:.1f} MB)")

        raw = _get(url, "fetching Neuronpedia's explanations", cancelled, moved)
        entries.extend(entries_from_bytes(raw, url))
    found = explanations_from_entries(entries, d_sae, model, source, default_date=now())
    if not found:
        raise NeuronpediaExplanationsError(f"{folder} holds no usable explanation of {model}/{source} for an SAE of "
                                           f"{d_sae} features ({len(entries)} entries read)")
    return Fetched(f"{model}/{source}", folder, len(batches), done, found)


def store_fetched(fetched: Fetched, sae_folder: str | Path, replace: bool = False) -> tuple[int, ExplanationStore]:
    """Merge fetched explanations into the SAE's explanations.json (written atomically, with their provenance);
    returns (how many were added or replaced, the store)."""
    store = ExplanationStore.beside(sae_folder)
    origin = {"neuronpedia_id": fetched.neuronpedia_id, "url": fetched.url, "batches": fetched.batches}
    return merge_explanations(store, fetched.explanations, origin, replace), store
