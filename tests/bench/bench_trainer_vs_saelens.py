"""Benchmark: our TopK trainer against SAELens's TopK training, in one process, on the same activations (CPU, fp32).

For each width (default 4 608 and 16 384; d_in 576, k 32, batch 4 096) both train on the same batches in the same
order, then are scored on the same held-out rows: tokens/s, the ratio ours / SAELens, and explained variance at
equal tokens. Activations come from an ActivationStore (--store, real residual-stream rows) or, without one, are
random but structured like a residual stream (--synthetic: sparse power-law combinations of 16 384 unit directions
with exponential magnitudes, a shared offset and a little noise). Runs in the SAELens environment with this
repository on PYTHONPATH (packaging/interop/README.md):

  PYTHONPATH=. /work/saelens-env/bin/python tests/bench/bench_trainer_vs_saelens.py \
      --json packaging/corpus/results/bench_trainer_vs_saelens.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_trainer import _ev, _rows  # noqa: E402  (same data reader and the same explained variance)

D_IN = 576


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
        x = _rows(a.store, 0, a.tokens)
        held = _rows(a.store, int(meta["n_tokens"]) - a.eval, int(meta["n_tokens"]))
        what = f"ActivationStore {a.store} (real activations)"
    else:
        x, held = synthetic(a.tokens, 0), synthetic(a.eval, 1)
        what = ("synthetic, residual-stream-like (no activation store was found): each row is a shared offset plus "
                "~48 of 16 384 unit directions (power-law frequencies, exponential magnitudes) plus noise")
    perm = torch.from_numpy(np.random.default_rng(0).permutation(len(x)))
    batches = [x[perm[i * a.batch : (i + 1) * a.batch]].contiguous() for i in range(len(x) // a.batch)]
    return batches, x[:20_000], held, what


def run_ours(a, width: int, batches, sample, held) -> dict:
    from desktop_sae.core.training.trainer import TopKTrainer, TrainConfig

    cfg = TrainConfig(d_sae=width, k=a.k, batch_size=a.batch, total_tokens=len(batches) * a.batch, lr_decay_frac=0.0)
    tr = TopKTrainer(D_IN, cfg)
    tr.init_from_sample(sample)
    t0 = time.perf_counter()
    for x in batches:
        tr.step(x)
    dt = time.perf_counter() - t0
    with torch.no_grad():
        recon, _ = tr.to_sae()(held)
    return {"impl": "ours: TopKTrainer", "width": width, "tokens": len(batches) * a.batch, "seconds": dt,
            "tokens_per_s": len(batches) * a.batch / dt, "explained_variance": _ev(held, recon),
            "lr": cfg.learning_rate()}


def run_saelens(a, width: int, batches, held) -> dict:
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    lr = 2e-4 / (width / 16384) ** 0.5
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=D_IN, d_sae=width, k=a.k, dtype="float32", device="cpu",
                                                normalize_activations="expected_average_only_in"))
    cfg = SAETrainerConfig(total_training_samples=len(batches) * a.batch, train_batch_size_samples=a.batch, lr=lr,
                           lr_end=lr, device="cpu", n_batches_for_norm_estimate=4,
                           logger=LoggingConfig(log_to_wandb=False))
    trainer = SAETrainer(cfg, sae, itertools.cycle(batches))
    t0 = time.perf_counter()
    trainer.fit()
    dt = time.perf_counter() - t0
    with torch.no_grad():
        scaler = trainer.activation_scaler
        recon = scaler.unscale(sae.decode(sae.encode(scaler.scale(held))))
    return {"impl": "SAELens: TopKTrainingSAE + SAETrainer (defaults)", "width": width,
            "tokens": trainer.n_training_samples, "seconds": dt, "tokens_per_s": trainer.n_training_samples / dt,
            "explained_variance": _ev(held, recon), "lr": lr}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=None, help="an ActivationStore folder (default: synthetic activations)")
    ap.add_argument("--widths", default="4608,16384")
    ap.add_argument("--tokens", type=int, default=204_800)
    ap.add_argument("--eval", type=int, default=20_000)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    import sae_lens

    torch.set_num_threads(a.threads)
    batches, sample, held, what = data(a)
    load_before = os.getloadavg()
    results, ratios = [], {}
    for width in (int(w) for w in a.widths.split(",")):
        ours = run_ours(a, width, batches, sample, held)
        print(f"{width:6d} {ours['impl']:50s} {ours['tokens_per_s']:8.0f} tok/s  EV {ours['explained_variance']:.4f}",
              flush=True)
        theirs = run_saelens(a, width, batches, held)
        print(f"{width:6d} {theirs['impl']:50s} {theirs['tokens_per_s']:8.0f} tok/s  "
              f"EV {theirs['explained_variance']:.4f}", flush=True)
        ratios[width] = ours["tokens_per_s"] / theirs["tokens_per_s"]
        print(f"{width:6d} ours / SAELens: x{ratios[width]:.2f} tokens/s", flush=True)
        results += [ours, theirs]
    out = {"data": what, "d_in": D_IN, "k": a.k, "batch": a.batch, "train_tokens": len(batches) * a.batch,
           "held_out_rows": len(held), "threads": a.threads, "sae_lens": sae_lens.__version__,
           "torch": torch.__version__, "python": platform.python_version(),
           "load_average_before_after": [load_before, os.getloadavg()],
           "results": results, "speed_ratio_ours_over_saelens": ratios}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
