"""Benchmark: our TopK trainer against SAELens's TopK training, in one process, on the same activations (CPU, fp32).

For each width (default 4 608 and 16 384; d_in 576, k 32, batch 4 096, the same constant learning rate) both train
on the same batches in the same order, one step of each in turn (so machine load hits both alike), then are scored
on the same held-out rows: tokens/s, the ratio ours / SAELens, and explained variance at equal tokens.
Activations come from an ActivationStore (--store, real residual-stream rows) or, without one, are random but
structured like a residual stream (sparse power-law combinations of 16 384 unit directions with exponential
magnitudes, a shared offset and a little noise). Runs in the SAELens environment with this
repository on PYTHONPATH (packaging/interop/README.md):

  PYTHONPATH=. /tmp/saelens-venv/bin/python tests/bench/bench_trainer_vs_saelens.py \
      --json docs/results/corpus/bench_trainer_vs_saelens.json

``--smoke`` runs a tiny case (width 256, 8 192 tokens) in a few seconds, with SAELens when it is installed and
ours alone when not, and still writes a results file (meta + summary): CI runs it so the benchmark cannot rot.
``--summarise FILE`` recomputes the summary of a results file from its raw results.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _store_rows import ordinary_ev, store_rows

D_IN = 576
METHOD = ("lock-step: one training step of ours, then one of SAELens's SAETrainer, on the same batch, for every "
          "batch; SAELens's time excludes its input-norm estimate (4 batches); the same constant learning rate")


def synthetic(n: int, seed: int, n_dirs: int = 16_384, active: int = 48) -> torch.Tensor:
    """Residual-stream-like rows: x = offset + sum of ~``active`` unit directions (power-law frequencies,
    exponential magnitudes) + noise; norms near 150 like SmolLM2's layer 12."""
    g = torch.Generator().manual_seed(1234)  # the same directions for training and held-out rows
    dirs = torch.nn.functional.normalize(torch.randn(n_dirs, D_IN, generator=g), dim=-1)
    freq = 1.0 / torch.arange(1, n_dirs + 1, dtype=torch.float64) ** 0.8
    offset = torch.randn(D_IN, generator=g) * 2.0
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(n, D_IN)
    for lo in range(0, n, 16_384):
        m = min(16_384, n - lo)
        idx = torch.multinomial(freq.expand(m, -1), active, replacement=False, generator=g)
        mag = torch.empty(m, active).exponential_(1.0, generator=g) * 15.0
        out[lo : lo + m] = torch.nn.functional.embedding_bag(idx, dirs, per_sample_weights=mag, mode="sum")
    return out + offset + 1.5 * torch.randn(n, D_IN, generator=g)


def data(a) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, str]:
    """(training batches, an init sample, held-out rows, description)."""
    if a.store:
        meta = json.loads((Path(a.store) / "meta.json").read_text())
        x = store_rows(a.store, 0, a.tokens)
        held = store_rows(a.store, int(meta["n_tokens"]) - a.eval, int(meta["n_tokens"]))
        what = f"ActivationStore {a.store} (real activations)"
    else:
        x, held = synthetic(a.tokens, 0), synthetic(a.eval, 1)
        what = ("synthetic, residual-stream-like (no activation store was found): each row is a shared offset plus "
                "~48 of 16 384 unit directions (power-law frequencies, exponential magnitudes) plus noise")
    perm = torch.from_numpy(np.random.default_rng(0).permutation(len(x)))
    batches = [x[perm[i * a.batch : (i + 1) * a.batch]].contiguous() for i in range(len(x) // a.batch)]
    return batches, x[:20_000], held, what


def _ours(a, width: int, batches) -> tuple[object, float]:
    """Our trainer configured for this run (constant learning rate)."""
    from desktop_sae.core.training.trainer import TopKTrainer, TrainConfig

    cfg = TrainConfig(d_sae=width, k=a.k, batch_size=a.batch, total_tokens=len(batches) * a.batch, lr_decay_frac=0.0)
    return TopKTrainer(D_IN, cfg), cfg.learning_rate()  # 2e-4 / sqrt(width / 16384), constant


def _record(impl: str, width: int, n: int, seconds: float, ev: float, lr: float) -> dict:
    return {"impl": impl, "width": width, "tokens": n, "seconds": seconds, "tokens_per_s": n / seconds,
            "explained_variance": ev, "lr": lr}


def run_ours_only(a, width: int, batches, sample, held) -> dict:
    """Our trainer alone (smoke runs where sae-lens is not installed)."""
    ours, lr = _ours(a, width, batches)
    ours.init_from_sample(sample)
    t = time.perf_counter()
    for x in batches:
        ours.step(x)
    seconds = time.perf_counter() - t
    with torch.no_grad():
        recon, _ = ours.to_sae()(held)
    return _record("ours: TopKTrainer", width, len(batches) * a.batch, seconds, ordinary_ev(held, recon), lr)


def run_lockstep(a, width: int, batches, sample, held) -> tuple[dict, dict]:
    """Both trainers on the same batches in the same order, one step of each in turn, so a busy shared machine
    slows both alike: SAELens's trainer pulls each batch from a generator that first runs our step on it; SAELens's
    time is its fit() time less our steps and its input-norm estimate (4 batches, not trained on)."""
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    n_est = 4
    ours, lr = _ours(a, width, batches)
    ours.init_from_sample(sample)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=D_IN, d_sae=width, k=a.k, dtype="float32", device="cpu",
                                                normalize_activations="expected_average_only_in"))
    tcfg = SAETrainerConfig(total_training_samples=len(batches) * a.batch, train_batch_size_samples=a.batch, lr=lr,
                            lr_end=lr, device="cpu", n_batches_for_norm_estimate=n_est,
                            logger=LoggingConfig(log_to_wandb=False))
    clock = {"ours": 0.0, "estimate_end": None}

    def provider():
        yield from batches[:n_est]  # SAELens estimates its input scaling from these
        clock["estimate_end"] = time.perf_counter()
        for x in batches:
            t = time.perf_counter()
            ours.step(x)
            clock["ours"] += time.perf_counter() - t
            yield x

    trainer = SAETrainer(tcfg, sae, provider())
    trainer.fit()
    t_end = time.perf_counter()
    theirs_s = t_end - clock["estimate_end"] - clock["ours"]
    n = len(batches) * a.batch
    assert trainer.n_training_samples == n, (trainer.n_training_samples, n)
    with torch.no_grad():
        recon_ours, _ = ours.to_sae()(held)
        scaler = trainer.activation_scaler  # folded into the SAE by fit(); kept in case a version does not
        recon_theirs = scaler.unscale(sae.decode(sae.encode(scaler.scale(held))))
    mine = _record("ours: TopKTrainer", width, n, clock["ours"], ordinary_ev(held, recon_ours), lr)
    theirs = _record("SAELens: TopKTrainingSAE + SAETrainer (defaults)", width, n, theirs_s,
                     ordinary_ev(held, recon_theirs), lr)
    return mine, theirs


def summarise(results: list[dict]) -> dict:
    """Per width: both trainers' tokens/s, their ratio and explained variance at equal tokens (from the results)."""
    out: dict = {}
    for width in dict.fromkeys(r["width"] for r in results):
        ours = next(r for r in results if r["width"] == width and r["impl"].startswith("ours"))
        out[f"w{width}_ours_tok_s"] = ours["tokens_per_s"]
        out[f"w{width}_ours_ev"] = ours["explained_variance"]
        theirs = next((r for r in results if r["width"] == width and r["impl"].startswith("SAELens")), None)
        if theirs:
            out[f"w{width}_saelens_tok_s"] = theirs["tokens_per_s"]
            out[f"w{width}_saelens_ev"] = theirs["explained_variance"]
            out[f"w{width}_speed_ratio_ours_over_saelens"] = ours["tokens_per_s"] / theirs["tokens_per_s"]
    return out


def summarise_file(path: Path) -> None:
    """Add (or recompute) the summary of a results file from its raw results, in place."""
    from desktop_sae.core.support.atomic import atomic_write_text

    rec = json.loads(path.read_text())
    rec["summary"] = summarise(rec["results"])
    order = ["meta", "summary"]
    atomic_write_text(path, json.dumps({k: rec[k] for k in [*order, *(k for k in rec if k not in order)] if k in rec},
                                       indent=1, ensure_ascii=False) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=None, help="an ActivationStore folder (default: synthetic activations)")
    ap.add_argument("--widths", default="4608,16384")
    ap.add_argument("--tokens", type=int, default=204_800)
    ap.add_argument("--eval", type=int, default=20_000)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help="a tiny run in seconds (ours alone without sae-lens)")
    ap.add_argument("--summarise", type=Path, default=None, metavar="FILE", help="recompute FILE's summary")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    if a.summarise:
        summarise_file(a.summarise)
        return 0
    if a.smoke:
        a.widths, a.tokens, a.eval, a.k, a.batch = "256", 8192, 2048, 8, 1024
    from desktop_sae.core.support.results_file import load_average, write_results

    have_lens = importlib.util.find_spec("sae_lens") is not None
    if not have_lens and not a.smoke:
        print("sae-lens is not installed: run this in its environment (packaging/interop/README.md)", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    load_before = load_average()
    batches, sample, held, what = data(a)
    results = []
    for width in (int(w) for w in a.widths.split(",")):
        pair = run_lockstep(a, width, batches, sample, held) if have_lens else (
            run_ours_only(a, width, batches, sample, held),)
        for r in pair:
            print(f"{width:6d} {r['impl']:50s} {r['tokens_per_s']:8.0f} tok/s  EV {r['explained_variance']:.4f}",
                  flush=True)
        results += pair
    summary = summarise(results)
    if not have_lens:
        summary["saelens"] = "not installed: ours alone"
    out = {"summary": summary, "data": what, "method": METHOD, "smoke": a.smoke, "d_in": D_IN, "k": a.k,
           "batch": a.batch, "train_tokens": len(batches) * a.batch, "held_out_rows": len(held),
           "threads": a.threads, "results": results}
    if a.json:
        args = argv if argv is not None else sys.argv[1:]
        write_results(a.json, out, load_before=load_before,
                      command=["python", "tests/bench/bench_trainer_vs_saelens.py", *args])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
