"""``desktop-sae bench engine``: decoding speed against transformers' ``generate()`` (``core.engine.benchmark``)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks")
    p.add_argument("what", choices=["engine"])
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--no-load", action="store_true", help="skip the load-time and RSS measurements")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from ..core.engine.benchmark import main

    return main(args)
