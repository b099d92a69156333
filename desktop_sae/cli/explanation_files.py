"""``desktop-sae explanations import FILE`` / ``export FILE`` / ``fetch``: feature explanations in Neuronpedia's export
fields (docs/EXPLANATIONS.md), checked against the SAE's Neuronpedia model and source ids; ``fetch`` downloads them
from Neuronpedia's exports for an SAE with a Neuronpedia id (its config's, or its SAE directory entry's)."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("explanations", help="import or export feature explanations in Neuronpedia's fields")
    verbs = p.add_subparsers(dest="verb", metavar="import|export|fetch|sample", required=True)
    i = verbs.add_parser("import", help="merge a Neuronpedia explanations export into the SAE's explanations")
    i.add_argument("file", help="Neuronpedia explanations (.json, .jsonl, optionally .gz)")
    i.add_argument("--replace", action="store_true", help="replace explanations already stored")
    i.add_argument("--any-source", action="store_true",
                   help="take entries whatever their modelId and layer (default: only this SAE's)")
    e = verbs.add_parser("export", help="write the SAE's explanations in Neuronpedia's fields")
    e.add_argument("file", help="output .json")
    for q in (i, e):
        q.add_argument("--model", default=None, help="the model the SAE is for (default: bundled SmolLM2)")
        q.add_argument("--sae", default=None, help="SAE folder (default: the bundled SAE)")
        q.add_argument("--out", default=None, help="folder of the explanation files (default: the SAE's folder)")
    i.set_defaults(func=cmd_import)
    e.set_defaults(func=cmd_export)
    f = verbs.add_parser("fetch", help="download Neuronpedia's explanations of a downloaded SAE that has a "
                                       "Neuronpedia id")
    f.add_argument("--sae", required=True, help="the SAE's folder (e.g. one listed by desktop-sae saes)")
    f.add_argument("--id", dest="neuronpedia_id", metavar="MODEL/SOURCE",
                   help="its Neuronpedia id (default: from its config or its SAE directory entry)")
    f.add_argument("--d-sae", type=int, default=None, help="its number of features (default: read from the SAE)")
    f.add_argument("--replace", action="store_true", help="replace explanations already stored")
    f.set_defaults(func=cmd_fetch)
    s = verbs.add_parser("sample", help="draw the seeded sample of features that blind scores are reported on")
    s.add_argument("file", help="output .json (a results file; commit it before writing any explanation)")
    s.add_argument("--n", type=int, default=400, help="features to draw (default 400)")
    s.add_argument("--seed", type=int, default=20261205, help="NumPy default_rng seed")
    s.add_argument("--d-sae", type=int, required=True, help="the SAE's number of features")
    s.add_argument("--exclude", nargs="*", default=[], metavar="FILE",
                   help="draw none of the features of these sample files")
    s.set_defaults(func=cmd_sample)


def _ids(args):
    """(folder of the explanation files, d_sae, Neuronpedia model id, source id)."""
    from ..core.features.user_labels import sae_folder
    from ..core.interop.neuronpedia_ids import model_id, source_id
    from ..core.support.paths import default_sae_dir
    from .neuronpedia import _target

    if args.sae == "none":
        raise ValueError("explanations belong to an SAE; give --sae")
    target, _ = _target(args)
    folder = Path(args.out) if args.out else sae_folder(args.sae or default_sae_dir())
    if folder is None or target.sae is None:
        raise ValueError("no SAE folder; give --sae")
    return (folder, target.sae.d_sae, model_id(target.model, target.neuronpedia_id),
            source_id(target.sae, target.neuronpedia_id))


def cmd_import(args) -> int:
    from ..core.explanations.neuronpedia_fields import import_neuronpedia_explanations
    from ..core.explanations.store import ExplanationStore

    folder, d_sae, model, source = _ids(args)
    store = ExplanationStore.beside(folder)
    n = import_neuronpedia_explanations(args.file, store, d_sae, None if args.any_source else model,
                                        None if args.any_source else source, replace=args.replace)
    print(f"{n} explanations imported into {store.path} ({len(store.explanations)} stored)", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from ..core.explanations.neuronpedia_fields import export_neuronpedia_explanations
    from ..core.explanations.store import ExplanationStore

    folder, _, model, source = _ids(args)
    n = export_neuronpedia_explanations(ExplanationStore.beside(folder), args.file, model, source)
    print(f"{n} explanations written to {args.file} as {model}/{source}", file=sys.stderr)
    return 0


def cmd_fetch(args) -> int:
    from ..core.assets.sae_neuronpedia import neuronpedia_target
    from ..core.explanations.neuronpedia_fetch import fetch_explanations, store_fetched
    from .common import progress_line

    target = neuronpedia_target(args.sae)
    np_id, d_sae = args.neuronpedia_id or target.neuronpedia_id, args.d_sae or target.d_sae
    if not np_id:
        raise ValueError(f"{args.sae} has no Neuronpedia id in its config or the SAE directory; give one with --id")
    if not d_sae:
        raise ValueError(f"the number of features of {args.sae} cannot be read; give it with --d-sae")
    try:
        fetched = fetch_explanations(np_id, d_sae, progress_line)
    except KeyboardInterrupt:
        print("\nfetch cancelled; nothing was written", file=sys.stderr)
        return 130
    added, store = store_fetched(fetched, target.folder, args.replace)
    print(f"\n{added} explanations added to {store.path} ({len(fetched.explanations)} fetched from {fetched.url}, "
          f"{len(store.explanations)} stored)", file=sys.stderr)
    return 0


def cmd_sample(args) -> int:
    from ..core.explanations.score_sample import FORMAT, draw_sample, read_sample
    from ..core.support.results_file import write_results

    taken = {f for path in args.exclude for f in read_sample(path)}
    features = draw_sample(args.d_sae, args.n, args.seed, [f for f in range(args.d_sae) if f not in taken])
    write_results(args.file, {"format": FORMAT, "seed": args.seed, "d_sae": args.d_sae, "features": features,
                              "rule": "numpy.random.default_rng(seed).choice(pool, n, replace=False), sorted; "
                                      "pool: the features 0..d_sae-1 not in the excluded samples",
                              "excluded": args.exclude,
                              "summary": {"features": len(features)}})
    print(f"{len(features)} features drawn with seed {args.seed} into {args.file}", file=sys.stderr)
    return 0
