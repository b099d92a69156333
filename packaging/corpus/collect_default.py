"""Tokenise the default corpus and collect activations for the shipped SAE (stage 2 of the recipe).

Usage: python packaging/corpus/collect_default.py CORPUS_DIR WORK_DIR [--hook blocks.12.hook_resid_post]
       [--tokens 2100000] [--answers-repeat 3] [--threads 2] [--batch 16]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("work")
    ap.add_argument("--hook", default="blocks.12.hook_resid_post")
    ap.add_argument("--tokens", type=int, default=2_100_000)
    ap.add_argument("--answers-repeat", type=int, default=3)
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16, help="contexts per forward pass (32-48 is faster on a CPU)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.training.activation_store import collect
    from desktop_sae.core.training.corpus import TokenizedCorpus, read_documents, tokenize_corpus

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    lm = load_model()
    tc_path = work / "tokens.npz"
    if tc_path.exists():
        tc = TokenizedCorpus.load(tc_path)
    else:
        docs = []
        for p in sorted(Path(a.corpus).glob("*.jsonl")):
            d = list(read_documents([p]))
            docs += d * (a.answers_repeat if p.stem == "model_answers" else 1)
        tc = tokenize_corpus(docs, lm.tokenizer, ctx_len=a.ctx, held_out=0.02, seed=0)
        tc.save(tc_path)
    print(f"corpus tokens by source: {tc.sources}; train contexts {len(tc.train)}, held-out {len(tc.held_out)}",
          file=sys.stderr)
    last = [0.0]

    def prog(p):
        if time.time() - last[0] > 20:
            last[0] = time.time()
            print(f"collect {p.done}/{p.total} tokens  {p.rate:.0f} tok/s  ETA {p.eta_s / 60:.1f} min", file=sys.stderr,
                  flush=True)

    layer = a.hook.split(".")[1]
    collect(lm.model, tc.train, a.hook, work / f"acts_L{layer}", bos_id=tc.bos_id, batch_size=a.batch,
            max_tokens=a.tokens, progress=prog, model_sha256=lm.sha256, model_name=lm.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
