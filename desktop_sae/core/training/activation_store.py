"""Disk-backed activation store: a memory-mapped float16 matrix [n_tokens, d] plus, per row, the context index
and position it came from. Collection runs the model forward only up to the hook layer, skips BOS and padding,
and can resume after an interruption."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import numpy as np
import torch

from ..engine.hooks import StopForward, hooks, parse_hook_name
from ..support.atomic import atomic_write_text

ACTS, LOCS, META, TOKENS = "acts.f16", "locs.i32", "meta.json", "tokens.npy"
# ``model`` in ``collect`` is a transformers causal LM: typed Any, it has no useful static type (``model.config``).


@dataclass
class Progress:
    done: int  # tokens stored
    total: int
    rate: float  # tokens/s (stored tokens)
    eta_s: float


class ActivationStore:
    """Open an existing store (``ActivationStore(folder)``) or create one with ``ActivationStore.create``."""

    def __init__(self, folder: str | Path, mode: Literal["r", "r+"] = "r") -> None:
        self.folder = Path(folder)
        self.meta = json.loads((self.folder / META).read_text())
        self.d = int(self.meta["d"])
        cap = int(self.meta["capacity"])
        self.acts = np.memmap(self.folder / ACTS, dtype=np.float16, mode=mode, shape=(cap, self.d))
        self.locs = np.memmap(self.folder / LOCS, dtype=np.int32, mode=mode, shape=(cap, 2))

    @classmethod
    def create(cls, folder: str | Path, d: int, capacity: int, tokens: np.ndarray, **meta: Any) -> ActivationStore:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / TOKENS, np.ascontiguousarray(tokens, dtype=np.int32), allow_pickle=False)
        np.memmap(folder / ACTS, dtype=np.float16, mode="w+", shape=(capacity, d)).flush()
        np.memmap(folder / LOCS, dtype=np.int32, mode="w+", shape=(capacity, 2)).flush()
        m = {"d": d, "capacity": capacity, "n_tokens": 0, "contexts_done": 0, "complete": False, **meta}
        atomic_write_text(folder / META, json.dumps(m, indent=1))
        return cls(folder, mode="r+")

    @property
    def n_tokens(self) -> int:
        return int(self.meta["n_tokens"])

    def tokens(self) -> np.ndarray:
        return np.load(self.folder / TOKENS, allow_pickle=False)

    def commit(self, **updates: Any) -> None:
        self.acts.flush()
        self.locs.flush()
        self.meta.update(updates)
        atomic_write_text(self.folder / META, json.dumps(self.meta, indent=1))

    def batches(self, batch_size: int, seed: int = 0, epoch: int = 0, start: int = 0,
                limit: int | None = None) -> Iterator[torch.Tensor]:
        """Shuffled float32 batches over rows [0, limit); block-shuffled (64-row blocks) so reads stay fast."""
        n = min(self.n_tokens, limit or self.n_tokens)
        blk = math.gcd(64, batch_size)
        nblk = n // blk
        order = np.random.default_rng(seed * 1000 + epoch).permutation(nblk)
        per = batch_size // blk
        for i in range(start, nblk // per):
            sel = np.sort(order[i * per : (i + 1) * per])
            rows = np.concatenate([np.asarray(self.acts[b * blk : (b + 1) * blk]) for b in sel])
            rows = rows[np.random.default_rng(i + 7919 * epoch).permutation(len(rows))]
            yield torch.from_numpy(rows.astype(np.float32))

    def n_batches(self, batch_size: int, limit: int | None = None) -> int:
        """How many batches one epoch of ``batches`` yields."""
        n = min(self.n_tokens, limit or self.n_tokens)
        return n // batch_size

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        idx = np.sort(np.random.default_rng(seed).choice(self.n_tokens, size=min(n, self.n_tokens), replace=False))
        return torch.from_numpy(np.asarray(self.acts[idx]).astype(np.float32))


def collect(model: Any, contexts: np.ndarray, hook_name: str, folder: str | Path, bos_id: int,
            pad_id: int | None = None, batch_size: int = 16, max_tokens: int | None = None,
            progress: Callable[[Progress], None] | None = None, cancel: Callable[[], bool] | None = None,
            **meta: Any) -> ActivationStore:
    """Collect activations at ``hook_name`` for ``contexts`` [n, T] into ``folder`` (resumes if it exists).

    Rows whose token is BOS (every context starts with one) or padding are not stored. The forward pass runs on
    the model's device; masks and the copy into the store stay on the CPU."""
    folder = Path(folder)
    dev = next(model.parameters()).device
    parse_hook_name(hook_name)
    d = int(getattr(model.config, "hidden_size", None) or model.config.n_embd)
    if (folder / META).exists():
        store = ActivationStore(folder, mode="r+")
        if store.meta.get("hook_name") != hook_name:
            raise ValueError(f"{folder} holds activations for {store.meta.get('hook_name')}, not {hook_name}")
        contexts = store.tokens()
    else:
        cap = int(np.isin(contexts, [bos_id] + ([pad_id] if pad_id is not None else []), invert=True).sum())
        if max_tokens:
            cap = min(cap, max_tokens)
        store = ActivationStore.create(folder, d, cap, contexts, hook_name=hook_name, bos_id=bos_id,
                                       pad_id=pad_id, ctx_len=int(contexts.shape[1]), **meta)
    cap = int(store.meta["capacity"])
    n, c0 = store.n_tokens, int(store.meta["contexts_done"])
    grabbed: list[torch.Tensor] = []

    def grab(x: torch.Tensor) -> NoReturn:
        grabbed.append(x.detach())
        raise StopForward

    t0, n0, last, done = time.time(), n, 0.0, c0
    with torch.inference_mode(), hooks(model, {hook_name: grab}):
        for c in range(c0, len(contexts), batch_size):
            if n >= cap:
                break
            if cancel is not None and cancel():
                break
            ids = torch.from_numpy(contexts[c : c + batch_size].astype(np.int64))
            keep = ids != bos_id
            if pad_id is not None and pad_id != bos_id:
                keep &= ids != pad_id
            grabbed.clear()
            ids_d = ids.to(dev)  # no copy on the CPU
            try:
                model(input_ids=ids_d, attention_mask=(ids_d != pad_id).long() if pad_id is not None else None,
                      use_cache=False)
            except StopForward:
                pass
            x = grabbed[0][keep.to(dev)].float().cpu().numpy()
            ci, pi = np.nonzero(keep.numpy())
            m = min(len(x), cap - n)
            store.acts[n : n + m] = x[:m].astype(np.float16)
            store.locs[n : n + m, 0] = ci[:m] + c
            store.locs[n : n + m, 1] = pi[:m]
            n += m
            done = c + len(ids)
            now = time.time()
            if now - last > 30 or n >= cap:
                store.commit(n_tokens=n, contexts_done=done)
                last = now
            if progress:
                rate = (n - n0) / max(now - t0, 1e-9)
                progress(Progress(n, cap, rate, (cap - n) / max(rate, 1e-9)))
    store.commit(n_tokens=n, contexts_done=done, complete=n >= cap or done >= len(contexts))
    return store
