"""Train, evaluate and package the shipped default SAE from a collected store (stage 3 of the recipe).

Usage: python packaging/corpus/train_default.py WORK_DIR OUT_DIR [--hook blocks.12.hook_resid_post]
       [--width 4608] [--k 32] [--tokens 3000000] [--stage train|package|all]
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
    ap.add_argument("work")
    ap.add_argument("out")
    ap.add_argument("--hook", default="blocks.12.hook_resid_post")
    ap.add_argument("--width", type=int, default=4608)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=3_000_000)
    ap.add_argument("--select-dtype", default="float32")
    ap.add_argument("--dead-tokens", type=int, default=400_000)
    ap.add_argument("--eval-tokens", type=int, default=16_384)
    ap.add_argument("--dict-rows", type=int, default=1_000_000)
    ap.add_argument("--stage", default="all", choices=["train", "package", "all"])
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--run-suffix", default="")
    ap.add_argument("--store", default=None, help="store folder under WORK_DIR (default acts_L<layer>)")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    from desktop_sae.core.models import load_model
    from desktop_sae.core.sae import FeatureStats
    from desktop_sae.core.sae_io import save_sae
    from desktop_sae.core.training.activation_store import ActivationStore
    from desktop_sae.core.training.corpus import TokenizedCorpus
    from desktop_sae.core.training.dictionary import build_dictionary
    from desktop_sae.core.training.evaluate import evaluate, write_eval
    from desktop_sae.core.training.trainer import TopKTrainer, TrainConfig, train

    work, out = Path(a.work), Path(a.out)
    layer = a.hook.split(".")[1]
    store = ActivationStore(work / (a.store or f"acts_L{layer}"))
    run = work / f"run_L{layer}_{a.width}_k{a.k}{a.run_suffix}"
    log = open(work / f"train_L{layer}{a.run_suffix}.log", "a")

    def prog(p):
        line = (f"step {p.step} tokens {p.tokens}/{p.total_tokens} loss {p.loss:.4f} EV {p.explained_variance:.4f} "
                f"L0 {p.l0:.1f} dead {100 * p.dead_fraction:.2f}% aux {p.aux_loss:.3f} lr {p.lr:.2e} "
                f"{p.tokens_per_s:.0f} tok/s ETA {p.eta_s / 60:.1f} min")
        print(line, file=log, flush=True)

    cfg = TrainConfig(d_sae=a.width, k=a.k, batch_size=4096, total_tokens=a.tokens, select_dtype=a.select_dtype,
                      dead_tokens=a.dead_tokens, checkpoint_every=50, lr=a.lr)
    print(f"store: {store.n_tokens} tokens; training {a.tokens} tokens", file=log, flush=True)
    if a.stage in ("train", "all"):
        tr = train(store, cfg, run, progress=prog, log_every=10)
    else:
        tr, _ = TopKTrainer.load_checkpoint(run)
    if a.stage == "train":
        return 0
    lm = load_model()
    typical = float(store.sample(20_000).norm(dim=1).mean())
    sae = tr.to_sae(a.hook, lm.name, {"model_sha256": lm.sha256, "typical_norm": typical, "context_size": 128,
                                      "prepend_bos": True, "training_tokens": tr.tokens,
                                      "unique_training_tokens": store.n_tokens, "corpus": "packaging/corpus"})
    t0 = time.time()
    d = build_dictionary(sae, store, lm.tokenizer, lm.model.get_output_embeddings().weight, out, max_rows=a.dict_rows)
    print(f"dictionary built in {time.time() - t0:.0f}s", file=log, flush=True)
    sae.stats = FeatureStats(d.a["max_activation"], d.a["mean_activation"], d.a["density"])
    save_sae(sae, out)
    tc = TokenizedCorpus.load(work / "tokens.npz")
    np.savez(out / "heldout_tokens.npz", held_out=tc.held_out[:256], bos_id=np.int64(tc.bos_id))
    res = evaluate(lm.model, sae, tc.held_out, a.hook, tc.bos_id, max_tokens=a.eval_tokens)
    res["dead_fraction_training_scan"] = float((d.a["density"] == 0).mean())
    write_eval(out, res)
    print(json.dumps(res, indent=1), file=log, flush=True)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
