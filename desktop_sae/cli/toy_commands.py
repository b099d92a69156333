"""``desktop-sae toy …``: train the lesson toy models from the command line.

``register(subparsers)`` adds the ``toy`` command with ``superposition``, ``sae`` and ``rainbow`` under it;
``cmd_toy(args)`` runs one. ``--json`` prints one JSON object on stdout; otherwise a short table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict

import numpy as np


def _progress(quiet: bool):
    if quiet:
        return None

    def show(fraction: float, message: str) -> None:
        n = int(round(20 * fraction))
        sys.stderr.write(f"\r\033[K[{'#' * n}{'.' * (20 - n)}] {message}" + ("\n" if fraction >= 1.0 else ""))
        sys.stderr.flush()

    return show


def _round(a, nd: int = 5):
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()


def register(subparsers) -> None:
    toy = subparsers.add_parser("toy", help="train the small toy models used in the lessons")
    sub = toy.add_subparsers(dest="toy_model", metavar="MODEL", required=True)
    for name, help_text in (
        ("superposition", "toy model of superposition (n features in m dimensions)"),
        ("sae", "toy model, then an SAE on its hidden space that looks for the features"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--n", type=int, default=5, help="number of features (default 5)")
        p.add_argument("--m", type=int, default=2, help="hidden dimensions (default 2)")
        p.add_argument("--sparsity", type=float, default=0.9, help="chance a feature is 0 (default 0.9)")
        p.add_argument("--importance-decay", type=float, default=0.9, help="importance of feature i is r**i")
        p.add_argument("--steps", type=int, default=None, help="training steps (default 1500)")
        p.add_argument("--seed", type=int, default=0)
        if name == "sae":
            p.add_argument("--latents", type=int, default=None, help="SAE latents (default 2n)")
            p.add_argument("--l1", type=float, default=1.0, help="L1 sparsity penalty (default 1.0)")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.set_defaults(func=cmd_toy)
    p = sub.add_parser("rainbow", help="3-unit bottleneck vs wide sparse layer on the colours of the spectrum")
    p.add_argument("--colours", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_toy)


def cmd_toy(args: argparse.Namespace) -> int:
    return {"superposition": _superposition, "sae": _sae, "rainbow": _rainbow}[args.toy_model](args)


def _toy_config(args):
    from ..core.classroom.toy.superposition import ToyConfig

    extra = {} if args.steps is None else {"steps": args.steps}
    return ToyConfig(
        n=args.n, m=args.m, sparsity=args.sparsity, importance_decay=args.importance_decay, seed=args.seed, **extra
    ).validate()


def _toy_dict(r) -> dict:
    from ..core.classroom.toy.superposition import geometry

    return {
        "config": asdict(r.config),
        "W": _round(r.W),
        "b": _round(r.b),
        "final_loss": r.final_loss,
        "seconds": round(r.seconds, 3),
        "geometry": geometry(r.W).to_dict(),
    }


def _superposition(args) -> int:
    from ..core.classroom.toy.superposition import train_toy

    r = train_toy(_toy_config(args), progress=_progress(args.json))
    d = _toy_dict(r)
    if args.json:
        print(json.dumps(d))
    else:
        _print_toy(r, d["geometry"])
    return 0


def _print_toy(r, g) -> None:
    c = r.config
    print(
        f"toy model: n={c.n} features in m={c.m} dimensions, sparsity {c.sparsity:g}, seed {c.seed}; "
        f"final loss {r.final_loss:.4f} ({r.seconds:.1f} s)"
    )
    nearest = dict(zip(g["represented"], g["nearest_angle"]))
    print(f"{'feature':>7} {'importance':>10} {'norm':>6} {'direction':>9} {'nearest':>8}  represented")
    for i in range(c.n):
        direction = math.degrees(math.atan2(r.W[1, i], r.W[0, i])) % 360 if c.m == 2 else float("nan")
        near = f"{nearest[i]:7.1f}°" if i in nearest else f"{'-':>8}"
        print(
            f"{i:>7} {c.importance_decay**i:>10.3f} {g['norms'][i]:>6.2f} {direction:>8.1f}° {near}  "
            f"{'yes' if i in nearest else 'no'}"
        )
    shape = "a regular polygon" if g["is_polygon"] else "not a regular polygon"
    print(f"{len(g['represented'])} of {c.n} features represented; their directions form {shape}")


def _sae(args) -> int:
    from ..core.classroom.toy.superposition import train_toy
    from ..core.classroom.toy.toy_sae import ToySAEConfig, train_toy_sae

    toy_cfg = _toy_config(args)
    prog = _progress(args.json)
    toy = train_toy(toy_cfg, progress=prog)
    sae_cfg = ToySAEConfig(latents=args.latents or 2 * toy_cfg.n, l1=args.l1, seed=args.seed).validate()
    s = train_toy_sae(toy.W, toy_cfg, sae_cfg, progress=prog)
    rec = s.recovery
    d = _toy_dict(toy) | {
        "sae": {
            "config": asdict(sae_cfg),
            "W_dec": _round(s.W_dec),
            "l0": s.l0,
            "fvu": s.fvu,
            "alive": list(s.alive),
            "best_cosine": list(rec.best_cosine),
            "best_latent": list(rec.best_latent),
            "recovered_fraction": rec.fraction,
            "seconds": round(s.seconds, 3),
        }
    }
    if args.json:
        print(json.dumps(d))
        return 0
    _print_toy(toy, d["geometry"])
    print(
        f"\nSAE with {sae_cfg.latents} latents (L1 {sae_cfg.l1:g}): {len(s.alive)} alive, L0 {s.l0:.2f}, "
        f"unexplained variance {100 * s.fvu:.1f}%"
    )
    for i, (cos, lat) in enumerate(zip(rec.best_cosine, rec.best_latent)):
        print(f"  feature {i}: best latent {lat:>3}, cosine {cos:.3f}")
    print(f"recovered {100 * rec.fraction:.0f}% of the true directions (cosine >= {rec.threshold:g})")
    return 0


def _rainbow(args) -> int:
    from ..core.classroom.toy.rainbow import RainbowConfig, train_rainbow

    r = train_rainbow(RainbowConfig(colours=args.colours, seed=args.seed), progress=_progress(args.json))
    if args.json:
        print(
            json.dumps(
                {
                    "centres_nm": _round(r.centres, 2),
                    "display_rgb": _round(r.display_rgb, 3),
                    "codes": _round(r.codes),
                    "dense_error": _round(r.dense_error),
                    "sparse_error": _round(r.sparse_error),
                    "sparse_unit": r.sparse_unit.tolist(),
                    "units_used": r.units_used,
                    "distinct_fraction": r.distinct_fraction,
                    "seconds": round(r.seconds, 3),
                }
            )
        )
        return 0
    print(f"{'colour':>8} {'3-unit code':>26} {'error (3 units)':>16} {'sparse unit':>12} {'error (sparse)':>15}")
    for i, nm in enumerate(r.centres):
        code = " ".join(f"{v:7.2f}" for v in r.codes[i])
        print(
            f"{nm:6.0f}nm {code:>26} {r.dense_error[i]:>16.3f} {int(r.sparse_unit[i]):>12} {r.sparse_error[i]:>15.4f}"
        )
    print(
        f"sparse layer: {r.units_used} units used for {len(r.centres)} colours; mean error "
        f"{r.sparse_error.mean():.4f} vs {r.dense_error.mean():.3f} through the 3-unit bottleneck"
    )
    return 0
