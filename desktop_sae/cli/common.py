"""What the subcommands share: the progress line, the model/SAE arguments and the session they open."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path


def progress_line(fraction: float | None, message: str) -> None:
    """One self-overwriting progress line on stderr; a fraction of 1 ends the line."""
    if fraction is None:
        bar = "[" + "?" * 20 + "]"
    else:
        n = int(round(20 * max(0.0, min(1.0, fraction))))
        bar = "[" + "#" * n + "." * (20 - n) + f"] {100 * fraction:3.0f}%"
    end = "\n" if fraction is not None and fraction >= 1.0 else ""
    sys.stderr.write(f"\r\033[K{bar} {message}{end}")
    sys.stderr.flush()


def throttled_progress(every: float = 1.0):
    """A ``progress(fraction, message)`` that redraws ``progress_line`` at most every ``every`` seconds (and
    always at 100 %)."""
    last = [0.0]

    def show(fraction: float | None, message: str) -> None:
        if time.time() - last[0] >= every or (fraction is not None and fraction >= 1):
            last[0] = time.time()
            progress_line(fraction, message)

    return show


def add_model_args(p: argparse.ArgumentParser, sae: bool = True, top: bool = False) -> None:
    """The model/SAE options, on the top-level parser (``top``: with their defaults) and again on subcommands,
    where they default to nothing so that ``desktop-sae --sae DIR eval-steering`` keeps the top-level value."""
    d = (lambda v: v) if top else (lambda v: argparse.SUPPRESS)
    p.add_argument("--model", default=d(None),
                   help="model: HF folder, .gguf file or hub id (default: bundled SmolLM2-135M-Instruct)")
    p.add_argument("--device", default=d(None), help="cuda, mps or cpu (default: best available)")
    p.add_argument("--dtype", default=d(None), choices=["auto", "float32", "bfloat16", "float16", "int8", "int4"],
                   help="default: fastest for the device; int8 / int4 = bfloat16 with int8 or 4-bit decoder weights "
                        "(CPU, lite engine: faster decoding, slightly different numbers; int4 keeps a Q4_1 GGUF's "
                        "own 4-bit codes)")
    # a plain flag on both parsers; on a subcommand it has its own dest, so its False cannot undo the top-level one
    dest = "trust_remote_code" if top else "trust_remote_code_here"
    p.add_argument("--trust-remote-code", action="store_true", dest=dest,
                   help="allow a hub model's own Python code to run (off by default)")
    if sae:
        p.add_argument("--sae", default=d(None),
                       help="SAE folder or file (default: the bundled SAE); 'none' for no SAE")
        p.add_argument("--hook", default=d(None),
                       help="hook point, e.g. blocks.12.hook_resid_post (default: the SAE's own)")


def opted_into_remote_code(args) -> bool:
    """Whether ``--trust-remote-code`` was given, before or after the subcommand."""
    return bool(getattr(args, "trust_remote_code", False) or getattr(args, "trust_remote_code_here", False))


def add_nnsight_args(p: argparse.ArgumentParser) -> None:
    """The nnsight backend (docs/REMOTE.md): ``--nnsight`` runs ``--model`` through nnsight here, ``--ndif`` runs a
    model NDIF hosts (the key comes from the NDIF_API_KEY variable, never from the command line)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--nnsight", action="store_true", help="run --model through nnsight in this process")
    g.add_argument("--ndif", metavar="MODEL_ID", default=None,
                   help="run MODEL_ID on NDIF's servers (needs NDIF_API_KEY; --sae is read here)")
    p.add_argument("--ndif-host", default=None, help="NDIF's address (default: https://api.ndif.us)")


def session_from_args(args, quiet: bool = False):
    """Load the model (and SAE) named by ``add_model_args``'s arguments into a ``core.engine.session.Session``; its
    warnings go to stderr. With ``add_nnsight_args``'s ``--nnsight`` or ``--ndif``, an ``NnsightSession`` opened as
    the app opens one (``app.loading.remote_loader``)."""
    from ..core.assets.opening import open_session

    remote = remote_target(args)
    if remote is not None:
        from ..app.loading import LoadRequest, remote_loader

        req = LoadRequest(model=args.model, device=args.device, dtype=args.dtype, sae=getattr(args, "sae", None),
                          hook=getattr(args, "hook", None), trust_remote_code=getattr(args, "trust_remote_code", False),
                          remote=remote)
        session = remote_loader(req, (lambda f, m: None) if quiet else progress_line, lambda: False)
    else:
        session = open_session(
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


def remote_target(args):
    """The nnsight target ``--nnsight`` / ``--ndif`` ask for (None without either); NDIF's key comes from the
    NDIF_API_KEY variable."""
    import os

    from ..core.remote.target import DEFAULT_HOST, Target, Transport

    if getattr(args, "ndif", None):
        return Target(args.ndif, Transport.NDIF, args.ndif_host or DEFAULT_HOST, os.environ.get("NDIF_API_KEY", ""))
    if getattr(args, "nnsight", False):
        return Target(args.model or "", Transport.IN_PROCESS)
    return None


def seed_list(text: str) -> tuple[int, ...]:
    """``--seeds``: a count N (seeds 0..N-1), or a list/range such as 3,7 or 10-12."""
    t = text.strip()
    if t.isdigit():
        n = int(t)
        if not 1 <= n <= 1000:
            raise ValueError("--seeds N: N must be 1..1000")
        return tuple(range(n))
    from ..core.support.prompt_file import parse_seeds

    return tuple(parse_seeds(t))


def strength_list(text: str) -> tuple[float, ...]:
    """``--strengths``: comma-separated finite numbers, duplicates dropped."""
    try:
        vals = tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ValueError(f"bad --strengths {text!r}: comma-separated numbers, e.g. 0.5,1,2,4,8") from None
    if not vals or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"bad --strengths {text!r}: give finite numbers")
    return tuple(dict.fromkeys(vals))


def read_preset_arg(name_or_file: str):
    """A preset named on the command line: a file, else a preset in the store by name or file stem."""
    from ..core.presets.store import PresetStore
    from ..core.support.errors import PresetError

    store = PresetStore()
    if Path(name_or_file).expanduser().is_file():
        return store.read(Path(name_or_file).expanduser())
    entries = store.entries()
    for e in entries:
        if name_or_file.strip().lower() in (e.name.lower(), e.path.stem.lower()):
            return store.read(e.path)
    names = ", ".join(repr(e.name) for e in entries) or "none"
    raise PresetError(f"no preset or file {name_or_file!r} (presets: {names})")
