"""The summaries of the corpus results files, computed from the raw data they already hold.

Each results file under ``docs/results/corpus/`` carries a ``summary``: the few values the docs quote, computed here
from the file's raw measurements (never typed). The scripts that write these files call the same functions; for
files measured before results files had a ``meta`` block (hours of CPU to measure again), ``--legacy`` adds one
holding the date of the commit that added the file, what is known of the machine, ``null`` for what was not
recorded and a note saying so.

  python packaging/corpus/summarise_results.py            # recompute every summary in place
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "docs" / "results" / "corpus"
OLD_FOLDER = "packaging/corpus/results"  # where these files lived before docs/results/


def _fraction(share: float, n: int) -> str:
    return f"{round(share * n)}/{n}"


def fisher_two_sided(a: int, n1: int, b: int, n2: int) -> float:
    """Fisher's exact test, two-sided: is a/n1 vs b/n2 more than chance? (hypergeometric, no scipy needed)."""
    k, total = a + b, n1 + n2

    def p(x: int) -> float:
        return math.comb(n1, x) * math.comb(n2, k - x) / math.comb(total, k)

    observed = p(a)
    return min(1.0, sum(p(x) for x in range(max(0, k - n2), min(k, n1) + 1) if p(x) <= observed * (1 + 1e-9)))


def _eval_keys(prefix: str, ev: dict) -> dict:
    return {f"{prefix}_{k}": ev[k] for k in ("explained_variance", "delta_loss", "ce_loss_recovered") if k in ev}


def default_sae_summary(rec: dict) -> dict:
    """docs/results/corpus/default_sae_8192.json: the shipped SAE's quality, size, corpus and training."""
    new, prev = rec["heldout_natural_prose"]["new"], rec["heldout_natural_prose"]["previous"]
    own = rec["own_heldout_split"]
    meta = rec["cfg"]["metadata"]
    corpus_note = rec["notes"]["corpus"]
    counts = re.findall(r"([a-z_-]+) (\d{1,3}(?: \d{3})+)", corpus_note.split("Tokens by source")[1])
    by_source = {name.replace("-", "_"): int(count.replace(" ", "")) for name, count in counts}
    answers = {m[1]: int(m[0]) for m in re.findall(r"(\d+) answers to ([\w./]+)", corpus_note)}
    new_tokens_k = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?) k", corpus_note.split("Tokens by source")[0])]
    repeats = int(re.search(r"answers repeated (\d+)x", corpus_note)[1])
    minutes = sum(rec["notes"]["timings_s_approx_from_log_timestamps"].values()) / 60
    return {
        "natural_prose_tokens": new["tokens"], **_eval_keys("natural_prose", new),
        **_eval_keys("previous_sae_natural_prose", prev),
        "own_split_tokens": own["tokens"], **_eval_keys("own_split", own),
        "l0": new["l0"], "dead_latents_training_scan_pct": 100 * own["dead_fraction_training_scan"],
        "sae_and_dictionary_bytes": rec["sizes_bytes"]["total"],
        "unique_training_tokens_millions": meta["unique_training_tokens"] / 1e6,
        "training_tokens_millions": meta["training_tokens"] / 1e6,
        "epochs": meta["training_tokens"] / meta["unique_training_tokens"],
        "corpus_tokens_millions": sum(by_source.values()) / 1e6,
        "corpus_tokens_by_source": by_source,
        "model_answers": sum(answers.values()),
        "model_answers_everyday": answers.get("everyday_prompts.py", 0),
        "model_answers_concept_prompts": sum(v for k, v in answers.items() if k != "everyday_prompts.py"),
        "model_answers_repeats": repeats,
        "model_answer_tokens_thousands": by_source["model_answers"] / repeats / 1e3,
        "model_answer_new_tokens_thousands": sum(new_tokens_k),
        "recipe_minutes_from_log": minutes,
    }


def compare_layers_sae_summary(rec: dict) -> dict:
    """docs/results/corpus/compare_layers_sae.json: one small SAE per layer (reconstruction and steering)."""
    out: dict[str, Any] = {}
    good = {}
    for r in rec["layers"]:
        n = sum(s["n"] for s in r["steering"].values())
        hits = round(sum(s["on_concept_and_fluent"] * s["n"] for s in r["steering"].values()))
        good[r["layer"]] = (hits, n)
        out.update({f"layer{r['layer']}_{k}": r[k] for k in ("explained_variance", "ce_loss_recovered", "delta_loss")})
        out[f"layer{r['layer']}_good_steered"] = f"{hits}/{n}"
    best = max(good, key=lambda L: good[L][0])
    for other in sorted(set(good) - {best}):
        out[f"fisher_p_layer{best}_vs_layer{other}"] = fisher_two_sided(*good[best], *good[other])
    return out


def compare_layers_summary(runs: list[dict]) -> dict:
    """docs/results/corpus/compare_layers.json: the model-only mean-difference direction added at each layer."""
    out: dict[str, Any] = {}
    for concept in dict.fromkeys(r["concept"] for r in runs):
        for frac in sorted({r["fraction_of_norm"] for r in runs}):
            rows = [r for r in runs if r["concept"] == concept and r["fraction_of_norm"] == frac]
            shares = [r["on_concept_and_fluent"] for r in rows]
            out[f"{concept}_norm{frac:g}_on_concept_and_fluent_min_over_layers"] = min(shares)
            out[f"{concept}_norm{frac:g}_layers_steered"] = f"{sum(s > 0 for s in shares)}/{len(shares)}"
    return out


def wide_candidate_summary(rec: dict) -> dict:
    """docs/results/corpus/wide_sae_candidate.json: the 8 192 x k 48 candidate that was not shipped."""
    hp = rec["heldout_natural_prose"]
    out = {**_eval_keys("candidate_natural_prose", hp["candidate"]),
           **_eval_keys("then_shipped_natural_prose", hp["shipped"]),
           **_eval_keys("candidate_own_split", rec["candidate_own_heldout_split"]),
           "candidate_unique_training_tokens_millions":
               rec["candidate_cfg"]["metadata"]["unique_training_tokens"] / 1e6}
    cand = [v for k, v in rec["steering"].items() if k.startswith("candidate")]
    rows = [r for v in cand for r in v["selection_split"]["by_strength"]]
    worst = max(rows, key=lambda r: r["keyword_share"])
    out["candidate_golden_gate_steering_answers_naming_it_max"] = _fraction(worst["keyword_share"], worst["n"])
    out["candidate_golden_gate_steering_strengths"] = ",".join(f"{s:g}" for s in sorted({r["strength"] for r in rows}))
    return out


def legacy_meta(rel: str, machine: dict | None, versions: dict | None, load: dict | None, command: str | None,
                note: str) -> dict:
    """A meta block for a file measured before meta blocks: the date of the commit that added it."""
    name = Path(rel).name
    dates = subprocess.run(["git", "log", "--diff-filter=A", "--format=%aI", "--", rel, f"{OLD_FOLDER}/{name}"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return {"date": dates[-1] if dates else None, "machine": machine, "load_average_1min": load,
            "versions": versions, "command": command, "note": note}


LEGACY_NOTE = ("Measured before results files carried a meta block: the date is that of the commit that added the "
               "file; {what} not recorded (null). The summary is computed from the raw data by "
               "packaging/corpus/summarise_results.py.")
FILES = {
    "default_sae_8192.json": (default_sae_summary, lambda rec: legacy_meta(
        "docs/results/corpus/default_sae_8192.json", {"cpu": None, "cores": 2, "system": None}, None, None,
        "the recipe in packaging/corpus/README.md (train_default.py, eval-sae; see notes)",
        LEGACY_NOTE.format(what="the CPU model, the load average and package versions were"))),
    "compare_layers_sae.json": (compare_layers_sae_summary, lambda rec: legacy_meta(
        "docs/results/corpus/compare_layers_sae.json", {"cpu": None, "cores": 2, "system": None}, None, None,
        "python packaging/corpus/compare_layers_sae.py " + rec["method"]["work"] + " " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in rec["method"].items() if k != "work"),
        LEGACY_NOTE.format(what="the CPU model, the load average and package versions were"))),
    "compare_layers.json": (lambda rec: compare_layers_summary(rec["runs"]), lambda rec: legacy_meta(
        "docs/results/corpus/compare_layers.json", None, None, None,
        "python packaging/corpus/compare_layers.py (options not recorded)",
        LEGACY_NOTE.format(what="the machine, the load average, package versions and the exact command were"))),
    "wide_sae_candidate.json": (wide_candidate_summary, lambda rec: legacy_meta(
        "docs/results/corpus/wide_sae_candidate.json", {"cpu": "AMD EPYC", "cores": 2, "system": None}, None, None,
        "the commands in packaging/corpus/README.md, gathered by packaging/corpus/wide_sae_results.py",
        LEGACY_NOTE.format(what="the load average (the CPU was shared with two other jobs) and package versions "
                                "were"))),
}


def summarise(path: Path, legacy: bool) -> dict:
    rec = json.loads(path.read_text())
    if isinstance(rec, list):  # compare_layers.json was a bare list of runs
        rec = {"runs": rec}
    summary_fn, meta_fn = FILES[path.name]
    rec["summary"] = summary_fn(rec)
    if legacy and "meta" not in rec:
        rec["meta"] = meta_fn(rec)
    first = [k for k in ("meta", "summary") if k in rec]
    return {k: rec[k] for k in [*first, *(k for k in rec if k not in first)]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("files", nargs="*", type=Path, help=f"default: {', '.join(FILES)} in docs/results/corpus")
    ap.add_argument("--legacy", action="store_true", help="add a meta block where a file has none")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from desktop_sae.core.support.atomic import atomic_write_text

    for path in a.files or [CORPUS / name for name in FILES]:
        rec = summarise(path, a.legacy)
        atomic_write_text(path, json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
        print(path.name, json.dumps(rec["summary"])[:300])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
