"""Every SAE the attribution graphs use on the bundled model, evaluated on the hand-written natural prose
(``packaging/corpus/heldout/natural_prose.jsonl``, never trained on) and on its own held-out split, with its size:

    python packaging/attribution/evaluate_depths.py --json docs/results/attribution/depth_saes.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PROSE = Path(__file__).resolve().parents[1] / "corpus" / "heldout" / "natural_prose.jsonl"
FIELDS = ("tokens", "l0", "explained_variance", "delta_loss", "ce_loss_recovered", "dead_fraction")


def summarise(rows: list[dict], total_bytes: int) -> dict:
    """The figures the docs quote: per SAE (``layer_<L>``) its natural-prose and own-split scores and size."""
    out: dict = {"depths": [r["hook"] for r in rows], "resources_mb_total": round(total_bytes / 1e6, 1),
                 "depth_sae_mb": round(sum(r["bytes"] for r in rows[1:]) / 1e6, 1)}
    for r in rows:
        n, o = r["natural_prose"], r["own_heldout"]
        out[f"layer_{r['hook'].split('.')[1]}"] = {
            "natural_ev": round(n["explained_variance"], 3), "natural_delta_loss": round(n["delta_loss"], 3),
            "natural_ce_loss_recovered": round(n["ce_loss_recovered"], 3),
            "own_ev": round(o["explained_variance"], 3), "own_delta_loss": round(o["delta_loss"], 3),
            "training_tokens_m": round((r["training_tokens"] or 0) / 1e6, 1), "mb": round(r["bytes"] / 1e6, 1),
            **_explained(r["folder"])}
    return out


def _explained(folder: str) -> dict:
    """How many features have an explanation, and how many of those say "no clear pattern"."""
    from desktop_sae.core.support.paths import resources_dir

    p = resources_dir() / folder / "explanations.json"
    if not p.is_file():
        return {}
    texts = [e["text"] for e in json.loads(p.read_text())["explanations"].values()]
    return {"explained": len(texts), "no_clear_pattern": sum("no clear pattern" in t for t in texts)}


def _resources_bytes() -> int:
    from desktop_sae.core.support.paths import resources_dir

    return sum(f.stat().st_size for f in resources_dir().rglob("*") if f.is_file() and "__pycache__" not in f.parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default=None)
    ap.add_argument("--resummarise", action="store_true",
                    help="recompute the summary (and the sizes) of --json from its measured rows, without measuring")
    a = ap.parse_args(argv)
    if a.resummarise:
        from desktop_sae.core.support.paths import resources_dir
        from desktop_sae.core.support.results_file import write_results

        doc = json.loads(Path(a.json).read_text())
        for r in doc["saes"]:
            r["bytes"] = sum(f.stat().st_size for f in (resources_dir() / r["folder"]).iterdir() if f.is_file())
        write_results(a.json, {"summary": summarise(doc["saes"], _resources_bytes()), "saes": doc["saes"],
                               "corpus": doc["corpus"]})
        return 0
    import torch

    torch.set_num_threads(2)
    from desktop_sae.core.attribution.attributor import depth_folders
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.support.paths import default_sae_dir, resources_dir
    from desktop_sae.core.support.results_file import write_results
    from desktop_sae.core.training.corpus import read_documents, tokenize_corpus
    from desktop_sae.core.training.sae_evaluation import evaluate

    lm = load_model(dtype="float32")
    main_sae = default_sae_dir()
    rows = []
    for folder in [main_sae, *depth_folders(main_sae)]:
        if folder is None:
            continue
        sae = load_sae(folder)
        ctx = int(sae.cfg.metadata.get("context_size") or 128)
        tc = tokenize_corpus(read_documents([PROSE]), lm.tokenizer, ctx_len=ctx, held_out=1.0)
        res = evaluate(lm.model, sae, tc.held_out, sae.cfg.hook_name, tc.bos_id)
        own = json.loads((folder / "eval.json").read_text())
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        rows.append({"folder": str(folder.relative_to(resources_dir())), "hook": sae.cfg.hook_name,
                     "width": sae.cfg.d_sae, "k": sae.cfg.k,
                     "training_tokens": sae.cfg.metadata.get("training_tokens"),
                     "natural_prose": {k: res[k] for k in FIELDS},
                     "own_heldout": {k: own.get(k) for k in FIELDS}, "bytes": size})
        print(json.dumps(rows[-1]), flush=True)
    summary = summarise(rows, _resources_bytes())
    print(json.dumps(summary))
    if a.json:
        write_results(a.json, {"summary": summary, "saes": rows, "corpus": str(PROSE.relative_to(PROSE.parents[3]))})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
