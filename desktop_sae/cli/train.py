"""``desktop-sae train-sae`` (the whole pipeline, resumable) and ``desktop-sae eval-sae``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import add_model_args, throttled_progress


def register(sub) -> None:
    t = sub.add_parser("train-sae", help="collect activations from a corpus and train a TopK SAE (resumable)")
    add_model_args(t, sae=False)
    t.add_argument("--corpus", nargs="+", required=True, help="text files, folders or .jsonl files (field 'text')")
    t.add_argument("--hook", default="blocks.12.hook_resid_post")
    t.add_argument("--width", type=int, default=4608, help="number of latents (d_sae)")
    t.add_argument("--k", type=int, default=32)
    t.add_argument("--tokens", type=int, default=2_000_000, help="training tokens (several epochs if > collected)")
    t.add_argument("--collect-tokens", type=int, default=None, help="activations to collect (default: --tokens)")
    t.add_argument("--batch-size", type=int, default=4096)
    t.add_argument("--ctx", type=int, default=128, help="context length in tokens")
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--held-out", type=float, default=0.02, help="fraction of documents kept for evaluation")
    t.add_argument("--eval-tokens", type=int, default=16384)
    t.add_argument("--no-dictionary", action="store_true")
    t.add_argument("--work", default=None,
                   help="working folder for tokens, activations, checkpoints (default OUT/.train)")
    t.add_argument("--out", required=True)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval-sae", help="L0, explained variance, dead fraction, CE loss recovered on held-out text")
    add_model_args(e, sae=False)
    e.add_argument("path", help="SAE folder")
    e.add_argument("--corpus", nargs="*", default=None, help="text to evaluate on (default: the SAE's held-out tokens)")
    e.add_argument("--tokens", type=int, default=16384)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)


def cmd_train(args) -> int:
    from ..core.engine.models import load_model
    from ..core.training.pipeline import PipelineConfig, run_pipeline

    cfg = PipelineConfig(out=args.out, corpus=tuple(args.corpus), hook=args.hook, width=args.width, k=args.k,
                         tokens=args.tokens, collect_tokens=args.collect_tokens, batch_size=args.batch_size,
                         ctx=args.ctx, lr=args.lr, held_out=args.held_out, eval_tokens=args.eval_tokens,
                         dictionary=not args.no_dictionary, work=args.work)
    # --device (default: best available) is used for collection, training, the dictionary and evaluation alike
    lm = load_model(args.model, device=args.device, dtype=args.dtype or "float32")
    res = run_pipeline(lm, cfg, progress=throttled_progress())
    if res.evaluation is not None:
        keys = ("explained_variance", "ce_loss_recovered", "delta_loss", "l0", "dead_fraction")
        print(json.dumps({k: res.evaluation[k] for k in keys}), file=sys.stderr)
    print(res.out)
    return 0


def cmd_eval(args) -> int:
    import numpy as np

    from ..core.engine.models import load_model
    from ..core.sae.formats import load_sae
    from ..core.training.corpus import read_documents, tokenize_corpus
    from ..core.training.pipeline import HELDOUT_FILE
    from ..core.training.sae_evaluation import evaluate, write_eval

    lm = load_model(args.model, device=args.device, dtype=args.dtype or "float32")
    sae = load_sae(args.path, device=lm.device)
    ctx = int(sae.cfg.metadata.get("context_size") or 128)
    if args.corpus:
        tc = tokenize_corpus(read_documents(args.corpus), lm.tokenizer, ctx_len=ctx, held_out=1.0)
        contexts, bos = tc.held_out, tc.bos_id
    else:
        p = Path(args.path) / HELDOUT_FILE
        if not p.exists():
            raise ValueError(f"{args.path} has no {HELDOUT_FILE}; give --corpus")
        with np.load(p, allow_pickle=False) as z:
            contexts, bos = z["held_out"], int(z["bos_id"])
    show = throttled_progress()
    res = evaluate(lm.model, sae, contexts, sae.cfg.hook_name, bos, max_tokens=args.tokens,
                   progress=lambda fraction, message: show(fraction, f"evaluate: {message}"))
    if Path(args.path).is_dir() and not args.corpus:
        write_eval(args.path, res)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for k in ("tokens", "l0", "explained_variance", "dead_fraction", "ce_clean", "ce_sae", "ce_zero_ablation",
                  "ce_loss_recovered", "delta_loss"):
            print(f"{k:20s} {res[k]:.4f}" if isinstance(res[k], float) else f"{k:20s} {res[k]}")
    return 0
