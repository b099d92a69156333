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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
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
    total = sum(f.stat().st_size for f in resources_dir().rglob("*") if f.is_file() and "__pycache__" not in f.parts)
    summary = {"depths": [r["hook"] for r in rows], "resources_bytes_total": total,
               "depth_sae_bytes": sum(r["bytes"] for r in rows[1:])}
    print(json.dumps(summary))
    if a.json:
        write_results(a.json, {"summary": summary, "saes": rows, "corpus": str(PROSE.relative_to(PROSE.parents[3]))})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
