"""Gather the wide default-SAE candidate's measurements into one JSON (docs/results/corpus/wide_sae_candidate.json).

Reads what the recipe's steps wrote into BUILD_DIR (see README.md, "Wide candidate"): ``eval/heldout_*.json``
(``desktop-sae eval-sae --corpus heldout/natural_prose.jsonl --json``, candidate and shipped SAE in one run),
``candidate/eval.json`` (the pipeline's own held-out split and the dictionary scan's dead fraction),
``sizes_*.json`` (sae_float16.py), ``gg/features.json`` (golden_gate_features.py), ``steer/*.json``
(``desktop-sae eval-steering``) and ``times`` (step start/end stamps). Nothing here is measured anew.

Usage: python packaging/corpus/wide_sae_results.py BUILD_DIR OUT.json [--notes notes.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EVAL_KEYS = ("tokens", "l0", "explained_variance", "dead_fraction", "ce_clean", "ce_sae", "ce_zero_ablation",
             "ce_loss_recovered", "delta_loss", "outlier_tokens_skipped", "seconds")


def _load(p: Path):
    return json.loads(p.read_text()) if p.exists() else None


def _steer(res: dict) -> dict:
    rows = [{"strength": r["strength"], "keyword_share": r["keyword_share"], "nll_mean": r["nll_mean"],
             "fluent_share": r["fluent_share"], "concept": r["concept"], "n": r.get("n")}
            for r in res["selection"]["feature"]]
    rep = res["report"]
    return {"features": res["concept"]["features"], "settings": res["settings"],
            "selection_split": {"default": {k: res["selection"]["default"].get(k)
                                            for k in ("keyword_share", "nll_mean", "fluent_share")},
                                "by_strength": rows},
            "report_split": {name: {k: r.get(k) for k in ("strength", "keyword_share", "nll_mean", "fluent_share")}
                             for name, r in rep.items()},
            "seconds": res.get("seconds")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("out")
    ap.add_argument("--notes", default=None, help="JSON with hand-written context (recipe, timings' causes)")
    a = ap.parse_args(argv)
    b = Path(a.build)
    res: dict = {"notes": _load(Path(a.notes)) if a.notes else None}
    res["heldout_natural_prose"] = {
        name: {k: v for k, v in (_load(b / "eval" / f"heldout_{name}.json") or {}).items() if k in EVAL_KEYS}
        for name in ("candidate", "shipped", "candidate_fp16")}
    own = _load(b / "candidate" / "eval.json") or {}
    res["candidate_own_heldout_split"] = {k: own.get(k) for k in (*EVAL_KEYS, "dead_fraction_training_scan")}
    res["sizes_bytes_float16_weights"] = {n: _load(b / f"sizes_{n}.json") for n in ("candidate", "shipped")}
    res["candidate_cfg"] = _load(b / "candidate" / "cfg.json")
    res["golden_gate_features"] = _load(b / "gg" / "features.json")
    res["steering"] = {p.stem: _steer(json.loads(p.read_text())) for p in sorted((b / "steer").glob("*.json"))}
    times = {}
    for line in (b / "times").read_text().splitlines():
        parts = line.rsplit(" ", 1)
        if len(parts) == 2 and parts[1].isdigit():
            times[parts[0]] = int(parts[1])
    res["step_timestamps_unix"] = times
    sys.path.insert(0, str(Path(__file__).parent))
    from summarise_results import wide_candidate_summary

    from desktop_sae.core.support.results_file import write_results

    args = argv if argv is not None else sys.argv[1:]
    write_results(a.out, {"summary": wide_candidate_summary(res), **res},
                  command=["python", "packaging/corpus/wide_sae_results.py", *args])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
