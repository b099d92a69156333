"""``desktop-sae models | saes | import | download``: the Model & SAE manager on the command line."""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("models", help="list the models on this machine (bundled, cached, imported)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("saes", help="list the SAEs on this machine (bundled, cached, imported, trained)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_saes)
    p = sub.add_parser("import", help="register a local model (HF folder, .gguf) or SAE (SAELens, sparsify, "
                                      "Gemma Scope params.npz)")
    p.add_argument("path")
    p.add_argument("--name", default=None, help="the name to list it under (default: its file or folder name)")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("download", help="download a model and/or an SAE from the Hugging Face hub into its cache")
    p.add_argument("id", nargs="?", default=None, help="a hub model id, e.g. openai-community/gpt2")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sae", metavar="RELEASE/SAE_ID", help="an SAE from the directory, e.g. "
                                                          "gpt2-small-res-jb/blocks.8.hook_resid_pre")
    g.add_argument("--repo", help="an SAE by hub repo (with --path)")
    p.add_argument("--path", dest="path_in_repo", metavar="PATH_IN_REPO", help="the SAE's folder or file in --repo")
    p.add_argument("--directory", metavar="FILE", help="an extra SAE directory (SAELens pretrained_saes.yaml shape)")
    p.add_argument("--releases", action="store_true", help="list the SAE directory's releases and SAE ids")
    p.set_defaults(func=cmd_download)


def _table(rows: list[list[str]], head: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


def _problem(a) -> str:
    return f"  (!) {a.problem}" if a.problem else ""


def cmd_models(args) -> int:
    from ..core.assets.metadata import human_size
    from ..core.assets.registry import list_models

    models = list_models()
    if args.json:
        print(json.dumps([a.as_dict() for a in models], indent=2))
        return 0
    rows = [[a.name, a.source, a.format, human_size(a.size), a.model.hidden_size if a.model else "?",
             a.model.n_layers if a.model else "?", a.path + _problem(a)] for a in models]
    _table(rows, ["NAME", "SOURCE", "FORMAT", "SIZE", "WIDTH", "LAYERS", "PATH"])
    return 0


def cmd_saes(args) -> int:
    from ..core.assets.metadata import human_size
    from ..core.assets.registry import list_saes

    saes = list_saes()
    if args.json:
        print(json.dumps([a.as_dict() for a in saes], indent=2))
        return 0
    rows = []
    for a in saes:
        s = a.sae
        rows.append([a.name, a.source, a.format, human_size(a.size), s.d_in if s else "?", s.d_sae if s else "?",
                     s.hook if s else "?", (s.model_name or "?") if s else "?", a.path + _problem(a)])
    _table(rows, ["NAME", "SOURCE", "FORMAT", "SIZE", "D_IN", "D_SAE", "HOOK", "MODEL", "PATH"])
    return 0


def cmd_import(args) -> int:
    from ..core.assets.imports import import_asset
    from ..core.assets.metadata import human_size

    a = import_asset(args.path, args.name)
    detail = (f"d_in {a.sae.d_in} -> d_sae {a.sae.d_sae} at {a.sae.hook}" if a.sae else
              f"width {a.model.hidden_size}, {a.model.n_layers} layers" if a.model else "")
    print(f"imported {a.kind} {a.name!r} ({a.format}, {human_size(a.size)}; {detail}) from {a.path}")
    return 0


def cmd_download(args) -> int:
    from ..app.download_run import DownloadRequest
    from ..core.assets import downloads as hd
    from ..core.assets.sae_directory import load_directory, load_sae_directory
    from .common import progress_line

    if args.releases:
        listed = load_sae_directory(args.directory)
        print(f"SAE directory: {listed.describe()}")
        for name, rel in sorted(listed.releases.items()):
            print(f"{name}  ({rel.repo_id}, model {rel.model or '?'})")
            for s in rel.saes:
                print(f"    {name}/{s.id}")
        return 0
    if args.repo and args.path_in_repo is None:
        raise ValueError("--repo needs --path (the SAE's folder or file inside the repo)")
    req = DownloadRequest(args.id, args.sae, args.repo, args.path_in_repo)
    steps = req.steps()
    directory = load_directory(args.directory) if args.sae else None
    try:
        for kind, what in steps:
            if kind == "model":
                res = hd.download_model(what, progress=progress_line)
            elif kind == "release":
                res = hd.download_release_sae(what, directory, progress=progress_line)
            else:
                repo, _, path = what.partition(":")
                res = hd.download_sae(repo, path, progress=progress_line)
            size = f"{res.downloaded_bytes / 1e6:.1f} MB downloaded" if not res.from_cache else "already cached"
            print(f"{res.kind} {res.repo_id} ({size}): {res.path}")
    except KeyboardInterrupt:
        print("\ndownload cancelled; no unfinished file or entry was kept", file=sys.stderr)
        return 130
    return 0
