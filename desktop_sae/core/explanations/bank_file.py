"""A context bank saved to disk (``.npz``, no pickles), so that explaining and scoring runs over the same corpus
do not rescan it. ``key`` names what the bank was built from (corpus, windows, seed, SAE, hook): a file whose key
differs is not used."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..support.atomic import atomic_write_bytes
from .contexts import ContextBank

FORMAT = "desktop-sae-context-bank/1"


def _json_array(value: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)


def save_bank(bank: ContextBank, path: str | Path, key: dict[str, Any]) -> None:
    """Write ``bank`` with the token texts it shows and ``key``, atomically."""
    used = np.unique(np.concatenate([bank.windows.ravel()] + ([bank.logit_ids[0].ravel(), bank.logit_ids[1].ravel()]
                                                              if bank.logit_ids is not None else [])))
    meta = {"format": FORMAT, "key": key, "d_sae": bank.d_sae, "n_tokens": bank.n_tokens, "seed": bank.seed,
            "skip_ids": sorted(bank.skip_ids),
            "vocab": {str(int(i)): bank.token_text(int(i)) for i in used}}
    arrays = {"windows": bank.windows, "feats": bank.feats, "rows": bank.rows, "vals": bank.vals,
              "meta": _json_array(meta)}
    if bank.logit_ids is not None:
        arrays["promoted"], arrays["suppressed"] = bank.logit_ids
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(path, buf.getvalue())


def load_bank(path: str | Path, key: dict[str, Any]) -> ContextBank | None:
    """The bank in ``path`` if it exists, reads and was built for ``key``; else None."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            if meta.get("format") != FORMAT or meta.get("key") != json.loads(json.dumps(key)):
                return None
            logits = (z["promoted"], z["suppressed"]) if "promoted" in z.files else None
            vocab = {int(k): str(v) for k, v in meta["vocab"].items()}
            return ContextBank(z["windows"], z["feats"], z["rows"], z["vals"], lambda i: vocab.get(i, f"<{i}>"),
                               int(meta["d_sae"]), int(meta["n_tokens"]), int(meta["seed"]), logits,
                               tuple(int(i) for i in meta["skip_ids"]))
    except (OSError, ValueError, KeyError):
        return None
