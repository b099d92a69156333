"""``desktop-sae`` command line. With no subcommand it opens the desktop app.

The subcommands call the same core functions as the GUI worker.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from . import __version__
from .core.errors import DesktopSAEError


def progress_line(fraction, message: str) -> None:
    """One self-overwriting progress line on stderr."""
    if fraction is None:
        bar = "[" + "?" * 20 + "]"
    else:
        n = int(round(20 * max(0.0, min(1.0, fraction))))
        bar = "[" + "#" * n + "." * (20 - n) + f"] {100 * fraction:3.0f}%"
    end = "\n" if fraction is not None and fraction >= 1.0 else ""
    sys.stderr.write(f"\r\033[K{bar} {message}{end}")
    sys.stderr.flush()


def add_model_args(p: argparse.ArgumentParser, sae: bool = True) -> None:
    p.add_argument("--model", default=None, help="model: HF folder, .gguf file or hub id (default: bundled SmolLM2-135M-Instruct)")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    p.add_argument("--dtype", default=None, choices=["auto", "float32", "bfloat16", "float16"], help="default: fastest for the device")
    p.add_argument("--trust-remote-code", action="store_true", help="allow a hub model's own Python code to run (off by default)")
    if sae:
        p.add_argument("--sae", default=None, help="SAE folder or file (default: the bundled SAE); 'none' for no SAE")
        p.add_argument("--hook", default=None, help="hook point, e.g. blocks.12.hook_resid_post (default: the SAE's own)")


def open_session(args, quiet: bool = False):
    """Load the model (and SAE) named by the common arguments into a core Session."""
    from .core.session import open_session as core_open_session

    session = core_open_session(
        args.model,
        getattr(args, "sae", None),
        getattr(args, "hook", None),
        device=args.device,
        dtype=args.dtype,
        trust_remote_code=getattr(args, "trust_remote_code", False),
        progress=None if quiet else progress_line,
    )
    for w in session.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return session


# --- info -------------------------------------------------------------------------------------------
def cmd_info(args) -> int:
    session = open_session(args, quiet=args.json)
    d = session.describe()
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    m = d["model"]
    print(f"model   {m['name']} ({m['architecture']}, {m['layers']} layers, width {m['width']}, "
          f"{m['parameters'] / 1e6:.0f}M parameters) on {m['device']} in {m['dtype']}")
    print(f"        from {m['source']}: {m['location']}")
    s = d["sae"]
    if s is None:
        print("sae     none")
    else:
        k = f", k={s['k']}" if s["k"] else ""
        print(f"sae     {s['architecture']}{k}, d_in {s['d_in']} -> d_sae {s['d_sae']} at {s['hook']} ({s['format']} format)")
        print(f"        from {s['path']}")
    for w in d["warnings"]:
        print(f"warning {w}")
    return 0


# --- generate ---------------------------------------------------------------------------------------
def _sampling(args):
    from .core.config import SamplingConfig

    return SamplingConfig(
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        frequency_penalty=args.frequency_penalty,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
        max_new_tokens=args.max_tokens,
    ).validate()


def _steering(args):
    from .core.config import SteeringConfig, parse_steer

    return SteeringConfig(
        tuple(parse_steer(s) for s in args.steer), multiplier=args.multiplier, skip_special=not args.steer_special
    )


def _token_json(e) -> dict:
    feats = [] if e.top_ids is None else [[int(i), round(float(v), 4)] for i, v in zip(e.top_ids, e.top_vals) if v > 0]
    return {"text": e.text, "id": e.token_id, "prompt": e.is_prompt, "features": feats}


def cmd_generate(args) -> int:
    session = open_session(args, quiet=args.json)
    sampling, steering = _sampling(args), _steering(args)
    session.plan(steering)  # validate before any generation
    stream = None if args.json else (lambda e: (e.is_prompt or sys.stdout.write(e.delta), sys.stdout.flush()))
    if args.compare:
        if not args.json:
            print("--- steered ---")
        steered = session.generate(args.prompt, sampling, steering, system=args.system, chat=not args.raw, on_token=stream)
        if not args.json:
            print("\n--- default ---")
        default = session.generate(args.prompt, sampling, system=args.system, chat=not args.raw, on_token=stream)
        results = (steered, default)
    else:
        results = (session.generate(args.prompt, sampling, steering, system=args.system, chat=not args.raw, on_token=stream),)
    main = results[0]
    if args.json:
        out = {
            "text": main.text,
            "tokens": [_token_json(e) for e in main.events if args.with_prompt or not e.is_prompt],
            "stop_reason": main.stop_reason,
            "tokens_per_second": round(main.tokens_per_second, 2),
            "steering": session.steering_units(steering) if steering.active else [],
        }
        if args.compare:
            out["default_text"] = results[1].text
        print(json.dumps(out, ensure_ascii=False))
    else:
        print()
        print(f"[{len(main.answer_ids)} tokens, {main.tokens_per_second:.1f} tok/s, stop: {main.stop_reason}]", file=sys.stderr)
    return 0


# --- app --------------------------------------------------------------------------------------------
def cmd_app(args) -> int:
    try:
        from .gui.app import run_app
    except ImportError as e:
        print(f"error: the desktop app needs PySide6 and pyqtgraph ({e})", file=sys.stderr)
        return 2
    return run_app(args)


def cmd_bench(args) -> int:
    from .core.bench_engine import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="desktop-sae", description="Chat with a local model, watch SAE features fire, steer with them.")
    p.add_argument("--version", action="version", version=f"desktop-sae {__version__}")
    add_model_args(p)
    p.add_argument("--preset", default=None, help="open the app with this preset file")
    p.set_defaults(func=cmd_app)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="describe the model and SAE")
    add_model_args(info)
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)

    gen = sub.add_parser("generate", help="generate text, optionally steered, with per-token features")
    add_model_args(gen)
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--system", default=None, help="system prompt (chat template)")
    gen.add_argument("--raw", action="store_true", help="treat the prompt as plain text, not a chat message")
    gen.add_argument("--steer", action="append", default=[], metavar="F=V[x][:add|clamp|orth]",
                     help="steer feature F with strength V (raw) or Vx (x max activation); repeatable")
    gen.add_argument("--multiplier", type=float, default=1.0, help="global steering multiplier")
    gen.add_argument("--steer-special", action="store_true", help="also steer BOS / special tokens")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--max-tokens", type=int, default=128)
    gen.add_argument("--temperature", type=float, default=0.5, help="0 = greedy")
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=0)
    gen.add_argument("--frequency-penalty", type=float, default=1.0)
    gen.add_argument("--repetition-penalty", type=float, default=1.0)
    gen.add_argument("--compare", action="store_true", help="also generate the unsteered answer with the same seed")
    gen.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    gen.add_argument("--with-prompt", action="store_true", help="with --json: include the prompt's tokens")
    gen.set_defaults(func=cmd_generate)

    bench = sub.add_parser("bench", help="benchmarks")
    bench.add_argument("what", choices=["engine"])
    bench.add_argument("--tokens", type=int, default=64)
    bench.add_argument("--repeats", type=int, default=5)
    bench.add_argument("--dtypes", default="float32,bfloat16")
    bench.add_argument("--json", default=None, help="also write the results to this JSON file")
    bench.add_argument("--no-load", action="store_true", help="skip the load-time and RSS measurements")
    bench.set_defaults(func=cmd_bench)

    for register in _plugins():
        register(sub)
    return p


def _plugins():
    regs = []
    for mod in ("desktop_sae.cli_train", "desktop_sae.gui.cli_screenshot"):
        try:
            regs.append(__import__(mod, fromlist=["register"]).register)
        except ModuleNotFoundError as e:  # optional part not present in this install
            if e.name not in (mod, "PySide6", "pyqtgraph"):
                raise
    return regs


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except DesktopSAEError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
