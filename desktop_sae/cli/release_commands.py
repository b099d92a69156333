"""``desktop-sae releases [RELEASE] [--model M] [--search TEXT]``: the SAE directory (the built-in subset, or every
release of an installed sae-lens) — its releases grouped by model, or one release's SAEs. Downloads stay with
``desktop-sae download --sae RELEASE/SAE_ID``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.assets.directory_search import ReleaseMatch


def register(sub) -> None:
    p = sub.add_parser("releases", help="list the SAE releases you can download (the built-in subset, or all of an "
                                        "installed sae-lens's), or one release's SAEs")
    p.add_argument("release", nargs="?", default=None, help="show this release's SAEs")
    p.add_argument("--model", default=None, help="only releases for models whose name contains this")
    p.add_argument("--search", default="", metavar="TEXT",
                   help="only releases and SAEs whose name, model, repo, hook or Neuronpedia id contain every word")
    p.add_argument("--directory", metavar="FILE", help="an extra SAE directory (SAELens pretrained_saes.yaml shape)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_releases)


def _sae_json(m: ReleaseMatch) -> dict[str, object]:
    r = m.release
    return {"release": r.name, "repo_id": r.repo_id, "model": r.model, "model_repo": r.model_repo,
            "conversion_func": r.conversion_func, "source": str(r.source),
            "saes": [{"id": s.id, "path": s.path, "hook": s.hook, "d_sae": s.d_sae, "l0": s.l0,
                      "neuronpedia": s.neuronpedia, "pickled": s.pickled} for s in m.saes]}


def _show_release(m: ReleaseMatch) -> None:
    r = m.release
    print(f"{r.name}: {r.repo_id}, model {r.model or '?'}"
          + (f", loader {r.conversion_func}" if r.conversion_func else "") + f" (from the {r.source})")
    rows = [[f"{r.name}/{s.id}", s.hook or "?", str(s.d_sae or "?"), f"{s.l0:g}" if s.l0 is not None else "?",
             s.neuronpedia or "", "pickled: refused" if s.pickled else ""] for s in m.saes]
    head = ["RELEASE/SAE_ID", "HOOK", "D_SAE", "L0", "NEURONPEDIA", "NOTE"]
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def cmd_releases(args) -> int:
    from ..core.assets.directory_search import group_by_model, search
    from ..core.assets.sae_directory import DirectorySource, load_sae_directory

    directory = load_sae_directory(args.directory)
    for problem in directory.problems:
        print(f"warning: {problem}", file=sys.stderr)
    if args.release is not None:
        rel = directory.releases.get(args.release)
        if rel is None:
            raise ValueError(f"unknown SAE release {args.release!r}; list them with: desktop-sae releases "
                             f"--search TEXT")
        found = search([rel], args.search, args.model)
        if not found:
            raise ValueError(f"no SAE of {rel.name} matches {args.search!r}")
        if args.json:
            print(json.dumps({"directory": directory.describe(), **_sae_json(found[0])}, indent=1))
        else:
            print(f"SAE directory: {directory.describe()}", file=sys.stderr)
            _show_release(found[0])
        return 0
    matches = search(directory.releases.values(), args.search, args.model)
    if args.json:
        print(json.dumps({"directory": directory.describe(), "problems": list(directory.problems),
                          "sources": [{"kind": str(s.kind), "path": s.path, "version": s.version,
                                       "releases": s.releases} for s in directory.sources],
                          "releases": [_sae_json(m) for m in matches]}, indent=1))
        return 0
    print(f"SAE directory: {directory.describe()}")
    for group in group_by_model(matches):
        n = len(group.matches)
        print(f"\n{group.model}  ({n} release{'s' if n != 1 else ''}, {group.n_saes} SAEs)")
        for m in group.matches:
            r = m.release
            some = f"{len(m.saes)} of {len(r.saes)}" if len(m.saes) != len(r.saes) else f"{len(r.saes)}"
            print(f"  {r.name:<44} {some:>9} SAEs  {r.repo_id}" + ("" if r.source is DirectorySource.SAELENS
                                                                 else f"  [{r.source}]"))
    if not matches:
        print("no release matches", file=sys.stderr)
    else:
        print("\nshow one release's SAEs: desktop-sae releases RELEASE; download one: desktop-sae download --sae "
              "RELEASE/SAE_ID")
    return 0
