"""Add documents to a collected activation store without re-collecting it (stage 2b of the recipe).

Copies STORE into OUT with room for the new tokens, keeps the contexts whose activations are stored, appends the new
documents' contexts (each repeated ``--repeat`` times), then resumes collection, which runs the model on the new
contexts only. Used to give the seed concepts (the Golden Gate Bridge, scams, secrets) more weight in the default
SAE's data: see README.md.

Usage: python packaging/corpus/extend_store.py STORE OUT EXTRA.jsonl [EXTRA.jsonl ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("out")
    ap.add_argument("extra", nargs="+")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.support.atomic import atomic_write_text
    from desktop_sae.core.training.activation_store import ACTS, LOCS, META, TOKENS, ActivationStore, collect
    from desktop_sae.core.training.corpus import read_documents, tokenize_corpus

    src, out = ActivationStore(a.store), Path(a.out)
    if not (out / META).exists():
        lm = load_model()
        docs = [d for p in a.extra for d in read_documents([Path(p)])] * a.repeat
        tc = tokenize_corpus(docs, lm.tokenizer, ctx_len=int(src.meta["ctx_len"]), held_out=0.0, seed=1)
        if tc.bos_id != int(src.meta["bos_id"]):
            raise SystemExit(f"BOS {tc.bos_id} differs from the store's {src.meta['bos_id']}")
        kept = src.tokens()[: int(src.meta["contexts_done"])]
        tokens = np.concatenate([kept, tc.train.astype(np.int32)])
        n_new = int((tc.train != tc.bos_id).sum())
        cap = src.n_tokens + n_new
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / TOKENS, tokens, allow_pickle=False)
        acts = np.memmap(out / ACTS, dtype=np.float16, mode="w+", shape=(cap, src.d))
        locs = np.memmap(out / LOCS, dtype=np.int32, mode="w+", shape=(cap, 2))
        for i in range(0, src.n_tokens, 1 << 18):
            j = min(i + (1 << 18), src.n_tokens)
            acts[i:j] = src.acts[i:j]
            locs[i:j] = src.locs[i:j]
        acts.flush()
        locs.flush()
        meta = {**src.meta, "capacity": cap, "complete": False,
                "extended_with": {"files": [str(p) for p in a.extra], "repeat": a.repeat, "contexts": len(tc.train),
                                  "tokens": n_new, "sources": tc.sources}}
        atomic_write_text(out / META, json.dumps(meta, indent=1))
        print(f"extended: {src.n_tokens} stored rows kept, {len(tc.train)} new contexts, {n_new} new tokens "
              f"({tc.sources})", file=sys.stderr, flush=True)
        model = lm.model
    else:
        model = load_model().model
    last = [0.0]

    def prog(p):
        if time.time() - last[0] > 10:
            last[0] = time.time()
            print(f"collect {p.done}/{p.total} tokens  {p.rate:.0f} tok/s  ETA {p.eta_s / 60:.1f} min", file=sys.stderr,
                  flush=True)

    meta = json.loads((out / META).read_text())
    store = collect(model, None, meta["hook_name"], out, bos_id=int(meta["bos_id"]), batch_size=16, progress=prog)
    print(f"store {out}: {store.n_tokens} tokens, complete={store.meta.get('complete')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
