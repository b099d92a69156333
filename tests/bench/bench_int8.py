"""What int8 or 4-bit weights (``--dtype int8`` / ``int4``) do to the model and to the bundled SAE, against bfloat16,
in one run.

On held-out text (the bundled SAE's held-out token split, and/or ``--corpus`` files such as
packaging/corpus/heldout/natural_prose.jsonl), both models read the same contexts; reported:

- the residual at the SAE's hook: per token, the relative L2 error of int8 against bfloat16 and the cosine;
- next-token predictions: share of positions whose argmax agrees, mean KL(bfloat16 || int8) in nats, and the
  cross-entropy of the text under each model;
- the SAE on each model's activations: explained variance, L0, delta loss (core.training.sae_evaluation);
- int4 only: the SAE's encoder in 8-bit groups, as a session beside 4-bit weights computes a decoding step's
  features (``SAE.use_row_kernel("int4")``), against its bfloat16 encoder on the same activations: the share of
  each position's active features both find, and the explained variance of each.

  python tests/bench/bench_int8.py [--dtype int4] [--corpus packaging/corpus/heldout/natural_prose.jsonl]
      [--tokens 8192]

writes docs/results/bench/<dtype>_effect_heldout.json, or <dtype>_effect_<corpus file's stem>.json with
``--corpus`` (``--json`` elsewhere; ``--smoke``: a few seconds).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import _bench
import numpy as np
import torch


def _contexts(args, lm, sae):
    from desktop_sae.core.support.paths import default_sae_dir
    from desktop_sae.core.training.corpus import read_documents, tokenize_corpus
    from desktop_sae.core.training.pipeline import HELDOUT_FILE

    ctx = int(sae.cfg.metadata.get("context_size") or 128)
    if args.corpus:
        tc = tokenize_corpus(read_documents(args.corpus), lm.tokenizer, ctx_len=ctx, held_out=1.0)
        return tc.held_out, tc.bos_id, "+".join(args.corpus)
    with np.load(default_sae_dir() / HELDOUT_FILE, allow_pickle=False) as z:
        return z["held_out"], int(z["bos_id"]), "bundled SAE held-out split"


def compare(a, b, sae, contexts, bos: int, max_tokens: int, dtype: str = "int8") -> dict:
    from desktop_sae.core.engine.hooks import hooks

    hook = sae.cfg.hook_name
    rel, cos, agree, kl, ce_a, ce_b, n = [], [], 0, 0.0, 0.0, 0.0, 0
    for row in contexts:
        if n >= max_tokens:
            break
        ids = torch.as_tensor(np.asarray(row, dtype=np.int64))[None]
        acts, logits = [], []
        for model in (a, b):
            store: list[torch.Tensor] = []
            with torch.inference_mode(), hooks(model, {hook: lambda x, s=store: s.append(x.float())}):
                logits.append(model(input_ids=ids).logits[0, :-1].float())
            acts.append(store[0][0])
        keep = ids[0] != bos
        xa, xb = acts[0][keep], acts[1][keep]
        rel.append((xa - xb).norm(dim=-1) / xa.norm(dim=-1))
        cos.append(torch.nn.functional.cosine_similarity(xa, xb, dim=-1))
        tgt, m = ids[0, 1:], keep[1:]
        la, lb = logits[0].log_softmax(-1)[m], logits[1].log_softmax(-1)[m]
        agree += int((la.argmax(-1) == lb.argmax(-1)).sum())
        kl += float((la.exp() * (la - lb)).sum())
        ce_a -= float(la.gather(1, tgt[m][:, None]).sum())
        ce_b -= float(lb.gather(1, tgt[m][:, None]).sum())
        n += int(m.sum())
    c, r = torch.cat(cos), torch.cat(rel)
    return {"positions": n, "residual_rel_error_median": float(r.median()), "residual_rel_error_mean": float(r.mean()),
            "residual_rel_error_p99": float(r.quantile(0.99)), "residual_cosine_mean": float(c.mean()),
            "residual_cosine_min": float(c.min()), "argmax_agreement": agree / n, "kl_nats": kl / n,
            "ce_bfloat16": ce_a / n, f"ce_{dtype}": ce_b / n}


def encoder_8bit(model, sae, contexts, bos: int, max_tokens: int) -> dict:
    """The SAE's encoder in 8-bit groups (decoding steps beside 4-bit weights) against its bfloat16 encoder, on
    ``model``'s activations at the SAE's hook: shared active features and explained variance of each."""
    from desktop_sae.core.engine.hooks import hooks

    quant = copy.deepcopy(sae)
    quant.use_row_kernel("int4")
    shared, active, ev = 0, 0, {"bfloat16": [0.0, 0.0], "8-bit groups": [0.0, 0.0]}
    n = 0
    for row in contexts:
        if n >= max_tokens:
            break
        ids = torch.as_tensor(np.asarray(row, dtype=np.int64))[None]
        store: list[torch.Tensor] = []
        with torch.inference_mode(), hooks(model, {sae.cfg.hook_name: lambda x, s=store: s.append(x)}):
            model(input_ids=ids)
        x = store[0][0][ids[0] != bos]
        with torch.inference_mode():
            for name, s in (("bfloat16", sae), ("8-bit groups", quant)):
                # one row at a time, as decoding steps reach the encoder (the 8-bit path takes only those)
                acts = torch.cat([s.encode(x[i : i + 1][None])[0] for i in range(x.shape[0])])
                rec = s.decode(acts).float()
                err = (x.float() - rec).pow(2).sum()
                ev[name][0] += float(err)
                ev[name][1] += float((x.float() - x.float().mean(0)).pow(2).sum())
                if name == "bfloat16":
                    ref = acts > 0
                else:
                    shared += int(((acts > 0) & ref).sum())
                    active += int(ref.sum())
        n += x.shape[0]
    return {"positions": n, "shared_active_features": shared / max(active, 1),
            "explained_variance": {k: 1 - e / t for k, (e, t) in ev.items()}}


def summarise(out: dict) -> dict:
    """bfloat16 -> the quantised weights, as the docs quote it."""
    dt = out["dtype"]
    m, bf, q = out["model"], out["sae"]["bfloat16"], out["sae"][dt]
    r = lambda x, n: round(x, n)  # noqa: E731
    res = {"positions": m["positions"], "residual_rel_error_median": r(m["residual_rel_error_median"], 4),
           "residual_rel_error_p99": r(m["residual_rel_error_p99"], 4),
           "residual_cosine_mean": r(m["residual_cosine_mean"], 4),
           "residual_cosine_min": r(m["residual_cosine_min"], 3),
           "argmax_agreement": r(m["argmax_agreement"], 4), "kl_nats_mean": r(m["kl_nats"], 4),
           "ce_nats": {"bfloat16": r(m["ce_bfloat16"], 4), dt: r(m[f"ce_{dt}"], 4)},
           "sae_explained_variance": {"bfloat16": r(bf["explained_variance"], 4),
                                      dt: r(q["explained_variance"], 4)},
           "sae_delta_loss": {"bfloat16": r(bf["delta_loss"], 3), dt: r(q["delta_loss"], 3)},
           "sae_features": out["sae_features"]}
    if "encoder_8bit" in out:
        e = out["encoder_8bit"]
        res["encoder_8bit"] = {"shared_active_features": r(e["shared_active_features"], 4),
                               "explained_variance": {k: r(v, 4) for k, v in e["explained_variance"].items()}}
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", nargs="*", default=None)
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--dtype", choices=("int8", "int4"), default="int8")
    _bench.add_args(ap, None)
    args = ap.parse_args()
    load_before = _bench.start()
    default = _bench.RESULTS / (f"{args.dtype}_effect_{Path(args.corpus[0]).stem}.json" if args.corpus
                                else f"{args.dtype}_effect_heldout.json")
    if args.smoke:
        args.tokens = 256
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.support.paths import default_sae_dir
    from desktop_sae.core.training.sae_evaluation import evaluate

    bf, q = load_model(dtype="bfloat16"), load_model(dtype=args.dtype)
    sae = load_sae(default_sae_dir())
    contexts, bos, source = _contexts(args, bf, sae)
    out = {"source": source, "tokens": args.tokens, "sae_features": sae.cfg.d_sae, "dtype": args.dtype,
           "model": compare(bf.model, q.model, sae, contexts, bos, args.tokens, args.dtype), "sae": {}}
    for name, lm in (("bfloat16", bf), (args.dtype, q)):
        s = load_sae(default_sae_dir()).to(dtype=lm.dtype)
        r = evaluate(lm.model, s, contexts, s.cfg.hook_name, bos, max_tokens=args.tokens)
        out["sae"][name] = {k: r[k] for k in ("tokens", "explained_variance", "l0", "delta_loss", "ce_clean")}
    if args.dtype == "int4":
        out["encoder_8bit"] = encoder_8bit(q.model, load_sae(default_sae_dir()).to(dtype=q.dtype).eval(),
                                           contexts, bos, args.tokens)
    print(json.dumps(out, indent=1))
    _bench.write(args, default, summarise(out), out, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
