"""``desktop-sae neuronpedia import FILE`` shows what a Neuronpedia steering file maps to here (or saves it as a
preset); ``desktop-sae neuronpedia export PRESET_OR_FILE`` writes a preset as a Neuronpedia steering request. Both
check against the model name and the SAE (loaded for its identity and statistics; the model itself is not)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from .common import read_preset_arg


def register(sub) -> None:
    p = sub.add_parser("neuronpedia", help="import or export Neuronpedia steering requests")
    verbs = p.add_subparsers(dest="verb", metavar="import|export", required=True)
    i = verbs.add_parser("import", help="what a Neuronpedia steering JSON maps to (or save it as a preset)")
    i.add_argument("file", help="a Neuronpedia steering request or saved output (.json)")
    i.add_argument("--json", action="store_true", help="print the mapping as JSON")
    i.add_argument("--save-preset", metavar="NAME", default=None, help="save it as a preset with this name")
    e = verbs.add_parser("export", help="write a preset as a Neuronpedia steering request")
    e.add_argument("preset", metavar="PRESET_OR_FILE", help="a preset's name (see the app's Presets) or a preset file")
    e.add_argument("--out", default=None, help="output file (default: print to stdout)")
    e.add_argument("--prompt", default=None, help="the user message to put in the request")
    for q in (i, e):
        q.add_argument("--model", default=None, help="the model it is for (default: bundled SmolLM2-135M-Instruct)")
        q.add_argument("--sae", default=None, help="SAE folder (default: the bundled SAE); 'none' for none")
    i.set_defaults(func=cmd_import)
    e.set_defaults(func=cmd_export)


def model_name(spec: str | None) -> str:
    """The name the app gives a model spec once loaded, without loading it."""
    from ..core.engine.model_cache import BUNDLED_NAME

    if spec in (None, "", "default", "bundled", BUNDLED_NAME):
        return BUNDLED_NAME
    p = Path(spec).expanduser()
    return p.stem if p.suffix == ".gguf" else p.name if p.is_dir() else spec


def _target(args):
    """(Target, max activation per feature or None) for the model name and the SAE named on the command line."""
    from ..core.interop.neuronpedia_ids import Target
    from ..core.interop.neuronpedia_read import sae_neuronpedia_id
    from ..core.support.errors import SAEFormatError
    from ..core.support.paths import default_sae_dir

    if args.sae == "none":
        return Target(model_name(args.model)), None
    folder = args.sae or default_sae_dir()
    if folder is None:
        raise SAEFormatError("no SAE is bundled with this installation; give one with --sae")
    from ..core.presets.identity import sae_identity
    from ..core.sae.formats import load_sae

    sae = load_sae(folder)
    max_act = sae.stats.max_activation if sae.stats is not None else None
    return Target(model_name(args.model), sae_identity(sae), sae_neuronpedia_id(folder)), max_act


def cmd_import(args) -> int:
    from ..core.interop.neuronpedia_read import MAX_BYTES, parse_neuronpedia
    from ..core.presets.file_format import preset_to_dict
    from ..core.presets.store import PresetStore
    from ..core.support.errors import NeuronpediaError

    path = Path(args.file)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise NeuronpediaError(f"cannot read {path}: {e.strerror or e}") from None
    target, max_act = _target(args)
    imp = parse_neuronpedia(raw, target, max_act, where=path.name)
    saved = None
    if args.save_preset:
        saved = PresetStore().save(replace(imp.preset, name=args.save_preset.strip() or imp.preset.name))
    if args.json:
        out = {"preset": preset_to_dict(imp.preset), "prompt": imp.prompt,
               "history": [{"role": r, "content": c} for r, c in imp.history], "outputs": dict(imp.outputs),
               "types": list(imp.types), "notes": list(imp.notes), "restored": imp.restored,
               "saved_preset": str(saved) if saved else None}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    p = imp.preset
    st, sp = p.steering, p.sampling
    print(f"model {target.model}, SAE {target.sae.describe() if target.sae else 'none'}")
    print(f"steering: multiplier {st.multiplier:g}, special tokens {'unsteered' if st.skip_special else 'steered'}")
    for s in st.features:
        unit = "× max" if s.unit == "max" else "raw"
        print(f"  feature {s.feature:6d}  {s.method:5s} {s.strength:g} {unit}{'' if s.enabled else '  (off)'}"
              f"{'  ' + s.label if s.label else ''}")
    print(f"sampling: temperature {sp.temperature:g}, frequency penalty {sp.frequency_penalty:g}, seed {sp.seed}, "
          f"max new tokens {sp.max_new_tokens}, top_p {sp.top_p:g}, top_k {sp.top_k}")
    if p.system is not None:
        print(f"system prompt: {p.system!r}")
    print(f"prompt: {imp.prompt!r}")
    for kind, text in imp.outputs.items():
        print(f"saved {kind} answer: {text!r}")
    for n in imp.notes:
        print(f"note: {n}")
    if imp.restored:
        print("note: exact Desktop SAE settings restored from the desktopSae block")
    if saved:
        print(f"saved as a preset: {saved}")
    return 0


def cmd_export(args) -> int:
    from ..core.interop.neuronpedia_write import neuronpedia_json, to_neuronpedia
    from ..core.presets.identity import check_preset
    from ..core.support.atomic import atomic_write_text

    preset = read_preset_arg(args.preset)
    target, max_act = _target(args)
    check_preset(preset, target.sae, max_act)
    preset = replace(preset, model=target.model, sae=target.sae or preset.sae)
    messages = [("user", args.prompt)] if args.prompt else []
    doc, notes = to_neuronpedia(preset, target, messages, None, max_act)
    text = neuronpedia_json(doc)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    return 0
