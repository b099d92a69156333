"""``desktop-sae bench engine``: decoding speed against transformers' ``generate()`` (``core.engine.benchmark``).

``--json FILE`` writes a results file (meta block, summary, raw runs); the README's speed table is
``--table FILE`` of the committed one (docs/results/bench/bench_engine.json). ``--quick`` runs every configuration
once with a few tokens (CI's smoke run)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks")
    p.add_argument("what", choices=["engine"])
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    p.add_argument("--json", default=None, help="write the results file (meta, summary, raw runs) to this path")
    p.add_argument("--no-load", action="store_true", help="skip the load-time and RSS measurements")
    p.add_argument("--quick", action="store_true",
                   help="a few seconds: 4 tokens, 1 repeat, bfloat16, no load/RSS (checks that the bench runs)")
    p.add_argument("--table", default=None, metavar="FILE",
                   help="only print the README's Markdown table from a results file written by --json")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    if args.table:
        import json
        from pathlib import Path

        from ..core.engine.benchmark import engine_table

        print(engine_table(json.loads(Path(args.table).read_text(encoding="utf-8"))))
        return 0
    from ..core.engine.benchmark import main

    if args.quick:
        args.no_load = True
    return main(args)
