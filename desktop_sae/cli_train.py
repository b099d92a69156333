"""CLI subcommands for training and inspecting SAEs: train-sae, eval-sae, features, feature."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def register(sub) -> None:
    from .cli import add_model_args

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
    t.add_argument("--work", default=None, help="working folder for tokens, activations, checkpoints (default OUT/.train)")
    t.add_argument("--out", required=True)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval-sae", help="L0, explained variance, dead fraction, CE loss recovered on held-out text")
    add_model_args(e, sae=False)
    e.add_argument("path", help="SAE folder")
    e.add_argument("--corpus", nargs="*", default=None, help="text to evaluate on (default: the SAE's held-out tokens)")
    e.add_argument("--tokens", type=int, default=16384)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)

    f = sub.add_parser("features", help="features active on a text, strongest first (BOS hidden)")
    add_model_args(f)
    f.add_argument("--text", required=True)
    f.add_argument("--top", type=int, default=20)
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_features)

    d = sub.add_parser("feature", help="a feature's dictionary entry")
    d.add_argument("id", type=int)
    d.add_argument("--sae", default=None, help="SAE folder (default: the bundled SAE)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_feature)


def _printer(every: float = 1.0):
    from .cli import progress_line

    last = [0.0]

    def show(fraction, msg):
        if time.time() - last[0] >= every or (fraction is not None and fraction >= 1):
            last[0] = time.time()
            progress_line(fraction, msg)

    return show


def cmd_train(args) -> int:
    from .core.models import load_model
    from .core.training.pipeline import PipelineConfig, run_pipeline

    cfg = PipelineConfig(out=args.out, corpus=tuple(args.corpus), hook=args.hook, width=args.width, k=args.k,
                         tokens=args.tokens, collect_tokens=args.collect_tokens, batch_size=args.batch_size,
                         ctx=args.ctx, lr=args.lr, held_out=args.held_out, eval_tokens=args.eval_tokens,
                         dictionary=not args.no_dictionary, work=args.work)
    # --device (default: best available) is used for collection, training, the dictionary and evaluation alike
    lm = load_model(args.model, device=args.device, dtype=args.dtype or "float32")
    res = run_pipeline(lm, cfg, progress=_printer())
    if res.evaluation is not None:
        print(json.dumps({k: res.evaluation[k] for k in ("explained_variance", "ce_loss_recovered", "delta_loss", "l0",
                                                         "dead_fraction")}), file=sys.stderr)
    print(res.out)
    return 0


def cmd_eval(args) -> int:
    import numpy as np

    from .core.models import load_model
    from .core.sae_io import load_sae
    from .core.training.corpus import read_documents, tokenize_corpus
    from .core.training.evaluate import evaluate, write_eval
    from .core.training.pipeline import HELDOUT_FILE

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
    show = _printer()
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


def cmd_features(args) -> int:
    from .cli import open_session
    from .core.features import features_on_text

    session = open_session(args, quiet=True)
    if session.sae is None:
        raise ValueError("no SAE loaded; give --sae")
    res = features_on_text(session, args.text, args.top)
    rows = [{"feature": h.feature, "max": h.max, "mean": h.mean, "tokens_active": h.tokens_active,
             "at_token": h.at_token, "label": h.label, **({"demo": h.demo} if h.demo else {})} for h in res.features]
    if args.json:
        print(json.dumps({"tokens": list(res.tokens), "features": rows}, ensure_ascii=False, indent=1))
    else:
        for r in rows:
            print(f"{r['feature']:6d}  max {r['max']:8.2f}  on {r['tokens_active']:3d} tokens  at {r['at_token']!r:14s} "
                  f"{r['label']}" + (f"  [{r['demo']}]" if "demo" in r else ""))
    return 0


def cmd_feature(args) -> int:
    from .core.features import load_dictionary
    from .core.paths import default_sae_dir
    from .core.presets import demo_feature_labels

    folder = args.sae or default_sae_dir()
    dic = load_dictionary(folder)
    if dic is None:
        raise ValueError(f"no feature dictionary in {folder}")
    e = dic.entry(args.id)
    demo = demo_feature_labels(folder).get(args.id)
    if demo:
        e = {**e, "demo": demo}
    if args.json:
        print(json.dumps(e, ensure_ascii=False, indent=1))
        return 0
    print(f"feature {e['id']}: {e['label']}" + (f"  [{demo}]" if demo else ""))
    print(f"max {e['max_activation']:.2f}  mean {e['mean_activation']:.2f}  density {100 * e['density']:.3f}%")
    print("top logits:    " + "  ".join(f"{t!r} {v:+.2f}" for t, v in e["top_logits"]))
    print("bottom logits: " + "  ".join(f"{t!r} {v:+.2f}" for t, v in e["bottom_logits"]))
    for ex in e["top_examples"][:10]:
        text = "".join(f"[{t}]" if v > 0 else t for t, v in zip(ex["tokens"], ex["values"]))
        print(f"  {ex['activation']:7.2f}  {text!r}")
    return 0
