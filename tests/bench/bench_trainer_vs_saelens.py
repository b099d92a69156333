"""Benchmark: our TopK trainer against SAELens's TopK training, in one process, on the same activations (CPU, fp32).

For each width (default 4 608 and 16 384; d_in 576, k 32, batch 4 096, the same constant learning rate) both train
on the same batches in the same order, one step of each in turn (so machine load hits both alike), then are scored
on the same held-out rows: tokens/s, the ratio ours / SAELens, and explained variance at equal tokens.
Activations come from an ActivationStore (--store, real residual-stream rows) or, without one, are random but
structured like a residual stream (sparse power-law combinations of 16 384 unit directions with exponential
magnitudes, a shared offset and a little noise). Runs in the SAELens environment with this
repository on PYTHONPATH (packaging/interop/README.md):

  PYTHONPATH=. /work/saelens-env/bin/python tests/bench/bench_trainer_vs_saelens.py \
      --json docs/results/corpus/bench_trainer_vs_saelens.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_trainer import _ev, _rows

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


def run_lockstep(a, width: int, batches, sample, held) -> tuple[dict, dict]:
    """Both trainers on the same batches in the same order, one step of each in turn, so a busy shared machine
    slows both alike: SAELens's trainer pulls each batch from a generator that first runs our step on it; SAELens's
    time is its fit() time less our steps and its input-norm estimate (4 batches, not trained on)."""
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    from desktop_sae.core.training.trainer import TopKTrainer, TrainConfig

    n_est = 4
    cfg = TrainConfig(d_sae=width, k=a.k, batch_size=a.batch, total_tokens=len(batches) * a.batch, lr_decay_frac=0.0)
    ours = TopKTrainer(D_IN, cfg)
    ours.init_from_sample(sample)
    lr = cfg.learning_rate()  # 2e-4 / sqrt(width / 16384) for both, constant
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
    mine = {"impl": "ours: TopKTrainer", "width": width, "tokens": n, "seconds": clock["ours"],
            "tokens_per_s": n / clock["ours"], "explained_variance": _ev(held, recon_ours), "lr": lr}
    theirs = {"impl": "SAELens: TopKTrainingSAE + SAETrainer (defaults)", "width": width, "tokens": n,
              "seconds": theirs_s, "tokens_per_s": n / theirs_s, "explained_variance": _ev(held, recon_theirs),
              "lr": lr}
    return mine, theirs


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
        ours, theirs = run_lockstep(a, width, batches, sample, held)
        for r in (ours, theirs):
            print(f"{width:6d} {r['impl']:50s} {r['tokens_per_s']:8.0f} tok/s  EV {r['explained_variance']:.4f}",
                  flush=True)
        ratios[width] = ours["tokens_per_s"] / theirs["tokens_per_s"]
        print(f"{width:6d} ours / SAELens: x{ratios[width]:.2f} tokens/s", flush=True)
        results += [ours, theirs]
    out = {"data": what, "method": METHOD, "d_in": D_IN, "k": a.k, "batch": a.batch,
           "train_tokens": len(batches) * a.batch,
           "held_out_rows": len(held), "threads": a.threads, "sae_lens": sae_lens.__version__,
           "torch": torch.__version__, "python": platform.python_version(),
           "load_average_before_after": [load_before, os.getloadavg()],
           "results": results, "speed_ratio_ours_over_saelens": ratios}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
