"""``desktop-sae export-steering``: a steering set (a preset, or ``--steer`` rows) as the one vector the app adds, in a
llama.cpp control-vector GGUF and/or a Desktop SAE steering-vector safetensors file (docs/STEERING_EXPORT.md). The
SAE is loaded for its decoder and statistics; the model is not."""

from __future__ import annotations

import sys
from dataclasses import replace


def register(sub) -> None:
    p = sub.add_parser("export-steering",
                       help="write a steering set as a llama.cpp control vector (.gguf) or a steering vector")
    p.add_argument("--preset", default=None, metavar="PRESET_OR_FILE",
                   help="a preset's name (see the app's Presets) or a preset file")
    p.add_argument("--steer", action="append", default=[], metavar="F=V[x]",
                   help="an additive steering row instead of a preset: feature F, strength V (raw) or Vx (× max "
                        "activation); repeatable")
    p.add_argument("--multiplier", type=float, default=None, help="global multiplier (default: the preset's, or 1)")
    p.add_argument("--gguf", default=None, metavar="OUT.gguf", help="write a llama.cpp control vector here")
    p.add_argument("--safetensors", default=None, metavar="OUT.safetensors",
                   help="write a Desktop SAE steering vector here (load it back with File > Load steering vector)")
    p.add_argument("--name", default=None, help="the name recorded in the files (default: the preset's)")
    p.add_argument("--model", default=None, help="the model it is for (default: bundled SmolLM2-135M-Instruct)")
    p.add_argument("--sae", default=None, help="SAE folder (default: the bundled SAE)")
    p.set_defaults(func=cmd_export_steering)


def _steering(args):
    """(name, SteeringConfig, the preset or None) from ``--preset`` or ``--steer``."""
    from ..core.steering.specs import SteeringConfig
    from ..core.steering.syntax import parse_steer
    from ..core.support.errors import SteeringError
    from .common import read_preset_arg

    if bool(args.preset) == bool(args.steer):
        raise SteeringError("give either --preset or one or more --steer rows")
    if args.preset:
        preset = read_preset_arg(args.preset)
        st = preset.steering if args.multiplier is None else replace(preset.steering, multiplier=args.multiplier)
        return preset.name, st, preset
    rows = tuple(parse_steer(s) for s in args.steer)
    return "steering", SteeringConfig(rows, 1.0 if args.multiplier is None else args.multiplier), None


def cmd_export_steering(args) -> int:
    from ..core.interop.steering_export import ExportFormat, build_export, write_export
    from ..core.presets.identity import check_preset, sae_identity
    from ..core.sae.formats import load_sae
    from ..core.support.errors import SAEFormatError, SteeringError
    from ..core.support.paths import default_sae_dir
    from .neuronpedia import model_name

    outs = [(ExportFormat.GGUF, args.gguf), (ExportFormat.SAFETENSORS, args.safetensors)]
    outs = [(f, p) for f, p in outs if p]
    if not outs:
        raise SteeringError("say where to write: --gguf OUT.gguf and/or --safetensors OUT.safetensors")
    name, steering, preset = _steering(args)  # bad rows fail before the SAE loads
    folder = args.sae or default_sae_dir()
    if folder is None:
        raise SAEFormatError("no SAE is bundled with this installation; give one with --sae")
    sae = load_sae(folder)
    identity = sae_identity(sae)
    max_act = sae.stats.max_activation if sae.stats is not None else None
    if preset is not None:
        check_preset(replace(preset, steering=steering), identity, max_act)
    model = model_name(args.model)
    export = build_export(steering, sae, hook=sae.cfg.hook_name, model=model, identity=identity,
                          name=args.name or name)
    for fmt, path in outs:
        write_export(export, path, fmt)
        print(f"wrote {path} ({fmt})", file=sys.stderr)
    norm = float((export.direction.astype("float64") ** 2).sum() ** 0.5)
    print(f"{len(export.rows)} additive rows at {export.hook}: one vector of norm {norm:.4g}; llama.cpp layer "
          f"{export.layer} (direction.{export.layer}, added to the output of block {export.layer})")
    if args.gguf:
        print(f"use: llama-cli -m MODEL.gguf --control-vector {args.gguf}   (scale it with --control-vector-scaled "
              f"{args.gguf}:S; keep the default layer range or one that includes {export.layer})")
    if export.skip_special:
        print("note: the app leaves special tokens (BOS, chat-template markers) unsteered; llama.cpp adds the "
              "vector at every position", file=sys.stderr)
    return 0
