"""Train, evaluate and package the shipped default SAE from a collected store (stage 3 of the recipe).

Usage: python packaging/corpus/train_default.py WORK_DIR OUT_DIR [--hook blocks.12.hook_resid_post]
       [--width 4608] [--k 32] [--tokens 3000000] [--stage train|package|all]

Runs ``desktop_sae.core.training.pipeline`` on the store that collect_default.py (and extend_store.py) filled: the
training resumes from its checkpoint, so ``--stage package`` (the same as ``all``) only packages a finished run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.training.pipeline import (
        PipelineConfig,
        collect_activations,
        run_pipeline,
        tokenise,
        train_sae,
    )

    work = Path(a.work)
    layer = a.hook.split(".")[1]
    log = open(work / f"train_L{layer}{a.run_suffix}.log", "a")

    def prog(fraction, message):  # every training report; each other stage's start and end
        if message.startswith("train:") or fraction in (0.0, 1.0):
            print(message, file=log, flush=True)

    cfg = PipelineConfig(out=a.out, work=work, hook=a.hook, width=a.width, k=a.k, tokens=a.tokens,
                         batch_size=4096, lr=a.lr, eval_tokens=a.eval_tokens, dictionary_rows=a.dict_rows,
                         store=a.store or f"acts_L{layer}", run=f"run_L{layer}_{a.width}_k{a.k}{a.run_suffix}",
                         device="cpu", metadata={"corpus": "packaging/corpus"},
                         train_options={"select_dtype": a.select_dtype, "dead_tokens": a.dead_tokens,
                                        "checkpoint_every": 50})
    lm = load_model()
    if a.stage == "train":  # WORK/tokens.npz and the store exist already (collect_default.py, extend_store.py)
        train_sae(collect_activations(lm, cfg, tokenise(lm, cfg, prog), prog), cfg, cfg.device, prog)
        return 0
    res = run_pipeline(lm, cfg, prog)
    print(json.dumps(res.evaluation, indent=1), file=log, flush=True)
    print(json.dumps(res.evaluation, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
