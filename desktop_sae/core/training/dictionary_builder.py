"""Building the feature dictionary beside an SAE (``features/dictionary.py`` reads it): one scan of the activation
store with the SAE for per-feature statistics, histograms, max-activating and quantile examples, then top/bottom
logits and an automatic short label per feature (docs/MATHS.md, "Evaluation and the feature dictionary").
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.numpy import save_file

from ..features.dictionary import ARRAYS, META, FeatureDictionary
from ..support.atomic import atomic_write_text
from ..support.errors import Cancelled

if TYPE_CHECKING:
    from ..sae.autoencoder import SAE
    from .activation_store import ActivationStore

N_TOP, N_QUANT, WINDOW, BEFORE, N_LOGITS, N_BINS = 20, 5, 16, 11, 10, 16
QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)


def _tok_str(tokenizer: Any, i: int) -> str:  # a transformers tokenizer
    return tokenizer.convert_tokens_to_string([tokenizer.convert_ids_to_tokens(int(i))])


def _label(top_tokens: list[str], logits: list[str]) -> str:
    """"<most common peak tokens> → <top whole-word logits>", e.g. "Francisco / California → Bay"."""
    clean = [t.strip() for t in top_tokens if t.strip()]
    common = [t for t, _ in Counter(clean).most_common(3)]
    outs = [t.strip() for t in logits if t[:1] == " " and t.strip().isalpha() and len(t.strip()) >= 3][:2]
    left = " / ".join(common[:3]) if common else "(whitespace)"
    return f"{left} → {', '.join(outs)}" if outs else left


def auto_labels(arrays: dict[str, np.ndarray], vocab: dict[int, str]) -> list[str]:
    """Automatic short labels from the peak tokens of the top examples and the top logits."""
    arg = arrays["ex_values"].astype(np.float32).argmax(2)
    peak = np.take_along_axis(arrays["ex_tokens"], arg[..., None], 2)[..., 0]
    labels = []
    for f in range(len(arrays["max_activation"])):
        k = int(arrays["ex_count"][f, 0])
        labels.append(_label([vocab[int(i)] for i in peak[f, :k]], [vocab[int(i)] for i in arrays["top_logit_ids"][f]])
                      if k else "(dead)")
    return labels


@torch.inference_mode()
def build_dictionary(sae: SAE, store: ActivationStore, tokenizer: Any, W_U: torch.Tensor, folder: str | Path,
                     max_rows: int | None = None, batch: int = 8192,
                     progress: Callable[[float, str], None] | None = None,
                     cancel: Callable[[], bool] | None = None) -> FeatureDictionary:
    """Scan the store's activations with the SAE (on its device) and write the dictionary files into ``folder``.
    ``progress(fraction, message)`` rises from 0 to 1 over the three passes (encode, examples, logits);
    ``cancel()`` is checked at each step of them and raises Cancelled before anything is written."""

    def step(fraction: float, what: str) -> None:
        if cancel is not None and cancel():
            raise Cancelled("building the feature dictionary was cancelled")
        if progress:
            progress(fraction, what)

    t0 = time.time()
    S = sae.cfg.d_sae
    n = min(store.n_tokens, max_rows or store.n_tokens)
    feat_parts: list[np.ndarray] = []
    row_parts: list[np.ndarray] = []
    val_parts: list[np.ndarray] = []
    limit = float(sae.cfg.metadata.get("outlier_norm_threshold") or "inf")
    for s in range(0, n, batch):
        x = torch.from_numpy(np.asarray(store.acts[s : min(s + batch, n)]).astype(np.float32)).to(sae.device)
        v, i = sae.encode_sparse(x)
        keep = (v > 0) & (x.norm(dim=1) <= limit)[:, None]  # attention-sink outliers are not described
        feat_parts.append(i[keep].cpu().numpy().astype(np.int32))
        row_parts.append((torch.nonzero(keep)[:, 0] + s).cpu().numpy().astype(np.int32))
        val_parts.append(v[keep].float().cpu().numpy())
        step(0.5 * min(s + batch, n) / n, "encoding activations")
    feats, rows, vals = np.concatenate(feat_parts), np.concatenate(row_parts), np.concatenate(val_parts)
    order = np.argsort(feats, kind="stable")  # stable: rows stay sorted within a feature
    feats, rows, vals = feats[order], rows[order], vals[order]
    bounds = np.searchsorted(feats, np.arange(S + 1))
    tokens, locs = store.tokens(), np.asarray(store.locs[:n])
    ctx_len = tokens.shape[1]
    E = N_TOP + N_QUANT
    out: dict[str, np.ndarray] = {
        "max_activation": np.zeros(S, np.float32), "mean_activation": np.zeros(S, np.float32),
        "density": np.zeros(S, np.float32), "histogram": np.zeros((S, N_BINS), np.int32),
        "ex_tokens": np.zeros((S, E, WINDOW), np.int32), "ex_values": np.zeros((S, E, WINDOW), np.float16),
        "ex_act": np.zeros((S, E), np.float32), "ex_count": np.zeros((S, 2), np.int32)}
    for f in range(S):
        if f % 512 == 0:
            step(0.5 + 0.45 * f / S, "examples")
        a, b = bounds[f], bounds[f + 1]
        if a == b:
            continue
        fr, fv = rows[a:b], vals[a:b]
        out["max_activation"][f] = fv.max()
        out["mean_activation"][f] = fv.mean()
        out["density"][f] = (b - a) / n
        out["histogram"][f] = np.histogram(fv, bins=N_BINS, range=(0.0, float(fv.max())))[0]
        ctx = locs[fr, 0]
        by_val = np.argsort(-fv, kind="stable")
        _, first = np.unique(ctx[by_val], return_index=True)  # best token of each context
        cands = by_val[np.sort(first)]
        chosen, seen = [], set()
        for j in cands:  # skip repeated passages (the same text can occur twice in a corpus)
            c, p = locs[fr[j]]
            lo = min(max(0, p - BEFORE), ctx_len - WINDOW)
            key = tokens[c, lo : lo + WINDOW].tobytes()
            if key not in seen:
                seen.add(key)
                chosen.append(j)
                if len(chosen) == N_TOP:
                    break
        best = np.asarray(chosen, dtype=np.int64)
        rest = np.setdiff1d(cands, best)
        if len(rest):
            qv = np.quantile(fv[rest], QUANTILES)
            picks = {int(rest[np.argmin(np.abs(fv[rest] - q))]) for q in qv}
            chosen += sorted(picks, key=lambda j: -fv[j])
        out["ex_count"][f] = (len(best), len(chosen) - len(best))
        for e, j in enumerate(chosen):
            c, p = locs[fr[j]]
            lo = min(max(0, p - BEFORE), ctx_len - WINDOW)
            out["ex_tokens"][f, e] = tokens[c, lo : lo + WINDOW]
            out["ex_act"][f, e] = fv[j]
            # per-token values: rows of the same context, found among this feature's (row-sorted) entries
            near = slice(np.searchsorted(fr, fr[j] - WINDOW), np.searchsorted(fr, fr[j] + WINDOW + 1))
            for r, v in zip(fr[near], fv[near]):
                cc, pp = locs[r]
                if cc == c and lo <= pp < lo + WINDOW:
                    out["ex_values"][f, e, pp - lo] = v
    W_dec = sae.W_dec.detach().float()
    W_UT = W_U.detach().to(device=W_dec.device, dtype=torch.float32).T
    top_i, top_v, bot_i, bot_v = [], [], [], []
    for s in range(0, S, 512):
        step(0.95 + 0.05 * s / S, "logits")
        lg = W_dec[s : s + 512] @ W_UT
        v, i = lg.topk(N_LOGITS, dim=1)
        top_i.append(i)
        top_v.append(v)
        v, i = (-lg).topk(N_LOGITS, dim=1)
        bot_i.append(i)
        bot_v.append(-v)
    out["top_logit_ids"] = torch.cat(top_i).cpu().numpy().astype(np.int32)
    out["top_logit_values"] = torch.cat(top_v).cpu().numpy().astype(np.float32)
    out["bottom_logit_ids"] = torch.cat(bot_i).cpu().numpy().astype(np.int32)
    out["bottom_logit_values"] = torch.cat(bot_v).cpu().numpy().astype(np.float32)
    used = np.unique(np.concatenate([out["ex_tokens"].ravel(), out["top_logit_ids"].ravel(),
                                     out["bottom_logit_ids"].ravel()]))
    vocab = {int(i): _tok_str(tokenizer, i) for i in used}
    labels = auto_labels(out, vocab)
    meta = {"version": 1, "d_sae": S, "tokens_scanned": int(n), "window": WINDOW, "n_top": N_TOP,
            "quantiles": list(QUANTILES), "histogram_bins": N_BINS, "hook_name": sae.cfg.hook_name,
            "labels": labels, "vocab": {str(k): v for k, v in vocab.items()}, "seconds": round(time.time() - t0, 1)}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{ARRAYS}.tmp"
    save_file(out, str(tmp))
    tmp.replace(folder / ARRAYS)
    atomic_write_text(folder / META, json.dumps(meta, ensure_ascii=False))
    if progress:
        progress(1.0, "written")
    return FeatureDictionary.load(folder)


