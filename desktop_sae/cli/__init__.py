"""``desktop-sae`` command line. With no subcommand it opens the desktop app; the subcommands call the same core
functions as the app. Building the parser imports neither torch nor Qt: each command imports what it needs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..core.support.errors import DesktopSAEError
from . import (
    asset_commands,
    attribute_command,
    bench,
    doctor,
    eval_steering,
    explain_commands,
    explanation_files,
    export_steering,
    feature_commands,
    generate,
    info,
    lesson_commands,
    neuronpedia,
    release_commands,
    screenshot,
    selftest,
    toy_commands,
    train,
)
from .common import add_model_args, opted_into_remote_code
from .launch import cmd_app


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="desktop-sae",
                                description="Chat with a local model, watch SAE features fire, steer with them.")
    p.add_argument("--version", action="version", version=f"desktop-sae {__version__}")
    add_model_args(p, top=True)
    p.add_argument("--preset", default=None, help="open the app with this preset file")
    p.set_defaults(func=cmd_app)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in (info, generate, eval_steering, bench, train, feature_commands, toy_commands, lesson_commands,
                   screenshot, asset_commands, release_commands, neuronpedia, explain_commands, explanation_files,
                   attribute_command, export_steering, doctor, selftest):
        module.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.trust_remote_code = opted_into_remote_code(args)  # given before or after the subcommand
    try:
        return args.func(args) or 0
    except (DesktopSAEError, ValueError) as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
