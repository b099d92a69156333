"""The figures of docs/TOY_MODELS.md, measured: trains the lesson toy models on the seeds the doc talks about and
writes docs/results/toy/toy_models.json (meta, summary, every run). Each model trains in seconds on one thread.

- superposition (n = 5, m = 2, defaults): sparsity 0 and 0.7 on seeds 0-1, 0.9 on seeds 0-4, 0.95 on seeds 0-1;
- the toy SAE on the toy's hidden space: sparsity 0.9 and 0.95 x toy seeds 0-3 x SAE seeds 0-1 (16 runs), with
  the default L1 penalty (1.0) and with a low one (0.05);
- the rainbow (defaults; it keeps the best of ``RESTARTS`` starts) on seeds 0-2.

  python packaging/toy/toy_results.py --json docs/results/toy/toy_models.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
SUPERPOSITION = {0.0: (0, 1), 0.7: (0, 1), 0.9: (0, 1, 2, 3, 4), 0.95: (0, 1)}
SAE_GRID = [(s, toy_seed, sae_seed) for s in (0.9, 0.95) for toy_seed in range(4) for sae_seed in (0, 1)]
L1S = (1.0, 0.05)


def _shape(g) -> str:
    """What the geometry is: a pentagon, a square of two opposite pairs, two orthogonal features, or other."""
    n = len(g.represented)
    if n == 5 and g.is_polygon:
        return "pentagon"
    if n == 4 and len(g.antipodal_pairs) == 2:
        return "square"
    if g.represented == (0, 1) and abs(g.nearest_angle[0] - 90.0) < 5.0:
        return "two orthogonal"
    return "other"


def superposition_runs() -> list[dict]:
    from desktop_sae.core.classroom.toy.superposition import ToyConfig, geometry, train_toy

    out = []
    for sparsity, seeds in SUPERPOSITION.items():
        for seed in seeds:
            r = train_toy(ToyConfig(n=5, m=2, sparsity=sparsity, seed=seed))
            g = geometry(r.W)
            out.append({"sparsity": sparsity, "seed": seed, "shape": _shape(g), "represented": list(g.represented),
                        "nearest_angle": [round(a, 2) for a in g.nearest_angle],
                        "antipodal_pairs": len(g.antipodal_pairs), "final_loss": r.final_loss,
                        "seconds": r.seconds})
    return out


def sae_runs() -> list[dict]:
    from desktop_sae.core.classroom.toy.superposition import ToyConfig, train_toy
    from desktop_sae.core.classroom.toy.toy_sae import ToySAEConfig, train_toy_sae

    toys = {(s, t): (ToyConfig(n=5, m=2, sparsity=s, seed=t), None) for s, t, _ in SAE_GRID}
    for key, (cfg, _) in toys.items():
        toys[key] = (cfg, train_toy(cfg).W)
    out = []
    for l1 in L1S:
        for s, t, seed in SAE_GRID:
            cfg, W = toys[(s, t)]
            r = train_toy_sae(W, cfg, ToySAEConfig(latents=10, l1=l1, seed=seed))
            out.append({"l1": l1, "sparsity": s, "toy_seed": t, "sae_seed": seed,
                        "recovered_fraction": r.recovery.fraction,
                        "distinct_latents": len(set(r.recovery.best_latent)),
                        "min_best_cosine": min(r.recovery.best_cosine), "fvu": r.fvu, "l0": r.l0,
                        "seconds": r.seconds})
    return out


def rainbow_runs() -> list[dict]:
    from desktop_sae.core.classroom.toy.rainbow import RESTARTS, RainbowConfig, train_rainbow

    out = []
    for seed in range(3):
        r = train_rainbow(RainbowConfig(seed=seed))
        out.append({"seed": seed, "restarts": RESTARTS, "distinct_fraction": r.distinct_fraction,
                    "units_used": r.units_used, "sparse_error_mean": float(r.sparse_error.mean()),
                    "dense_error_mean": float(r.dense_error.mean()), "seconds": r.seconds})
    return out


def summarise(sup: list[dict], sae: list[dict], rain: list[dict]) -> dict:
    def count(rows, pred) -> str:
        return f"{sum(map(pred, rows))}/{len(rows)}"

    out: dict = {}
    for sparsity, expected in ((0.0, "two orthogonal"), (0.7, "square"), (0.9, "pentagon"), (0.95, "pentagon")):
        rows = [r for r in sup if r["sparsity"] == sparsity]
        out[f"superposition_s{sparsity:g}_seeds_{expected.replace(' ', '_')}"] = count(
            rows, lambda r, e=expected: r["shape"] == e)
    out["superposition_seconds_max"] = max(r["seconds"] for r in sup)
    for l1 in L1S:
        rows = [r for r in sae if r["l1"] == l1]
        key = f"sae_l1_{l1:g}"
        out[f"{key}_runs_recovering_all_five"] = count(rows, lambda r: r["recovered_fraction"] == 1.0)
        out[f"{key}_recovered_pct_min"] = 100 * min(r["recovered_fraction"] for r in rows)
        out[f"{key}_recovered_pct_max"] = 100 * max(r["recovered_fraction"] for r in rows)
        out[f"{key}_fvu_median"] = statistics.median(r["fvu"] for r in rows)
    out["rainbow_restarts"] = rain[0]["restarts"]
    out["rainbow_distinct_pct_min"] = 100 * min(r["distinct_fraction"] for r in rain)
    out["rainbow_sparse_over_dense_error_max"] = max(r["sparse_error_mean"] / r["dense_error_mean"] for r in rain)
    out["rainbow_seconds_max"] = max(r["seconds"] for r in rain)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--json", type=Path, default=None, help="write the results file here")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from desktop_sae.core.support.results_file import load_average, write_results

    torch.set_num_threads(1)
    load = load_average()
    sup, sae, rain = superposition_runs(), sae_runs(), rainbow_runs()
    summary = summarise(sup, sae, rain)
    for k, v in summary.items():
        print(f"{k:50s} {v}")
    if a.json:
        args = argv if argv is not None else sys.argv[1:]
        write_results(a.json, {"summary": summary, "superposition": sup, "sae": sae, "rainbow": rain},
                      load_before=load, command=["python", "packaging/toy/toy_results.py", *args])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
