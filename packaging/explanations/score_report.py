"""Read a blind scoring folder (score-explanations --write-prompts; each scorer's answers.tsv) into a score store and
write a results file: per variant and scorer, the mean balanced accuracy over features with its 95 % bootstrap
interval; own minus token label, paired by feature, with its interval; detection recall by quantile rank and the
false-positive rate (docs/EXPLANATIONS.md).

Usage: python packaging/explanations/score_report.py BLIND_DIR --store SCORES.json --scorer "NAME {k}"
                                                     --sample SAMPLE.json --out docs/results/explanations/X.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# issue #20's goals: detection >= 0.80 and at least 0.15 above the token-fragment labels; fuzzing >= 0.75
GOALS = {"detection": 0.80, "fuzzing": 0.75, "margin_over_token_label": 0.15}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("blind")
    ap.add_argument("--store", required=True, help="score store to read the answers into (explanation_scores.json)")
    ap.add_argument("--scorer", required=True, help="who scored; {k} = the scorer's number")
    ap.add_argument("--sample", required=True, help="the committed sample file the scores are reported on")
    ap.add_argument("--out", required=True)
    ap.add_argument("--note", default="", help="a sentence on what was scored")
    args = ap.parse_args(argv)
    from desktop_sae.core.explanations import protocol
    from desktop_sae.core.explanations.blind_files import read_blind_answers, recall_by_rank
    from desktop_sae.core.explanations.runs import score_summary
    from desktop_sae.core.explanations.score_sample import read_sample
    from desktop_sae.core.explanations.stats import mean_with_bootstrap
    from desktop_sae.core.explanations.store import ScoreStore
    from desktop_sae.core.support.results_file import write_results

    store = ScoreStore(args.store) if not Path(args.store).exists() else ScoreStore.load(args.store)
    read = read_blind_answers(args.blind, store, args.scorer)
    sample = read_sample(args.sample)
    table = score_summary(store, sample)
    summary: dict[str, float | int] = {}
    for v, per in table.items():
        for sc, r in per.items():
            for k in ("mean", "low", "high", "features"):
                summary[f"{v}_{sc}_{k}"] = r[k]
    own, tok = store.scores.get(protocol.Variant.OWN, {}), store.scores.get(protocol.Variant.TOKEN_LABEL, {})
    for sc in protocol.Scorer:
        diffs = [own[f].balanced_accuracy(sc) - tok[f].balanced_accuracy(sc) for f in sample if f in own and f in tok]
        mean, lo, hi = mean_with_bootstrap(diffs)
        summary.update({f"own_minus_token_label_{sc}_mean": round(mean, 4),
                        f"own_minus_token_label_{sc}_low": round(lo, 4),
                        f"own_minus_token_label_{sc}_high": round(hi, 4)})
    summary.update({f"goal_{k}": v for k, v in GOALS.items()})
    if "own_detection_mean" in summary:
        summary["detection_short_of_goal"] = round(GOALS["detection"] - summary["own_detection_mean"], 4)
        summary["fuzzing_short_of_goal"] = round(GOALS["fuzzing"] - summary["own_fuzzing_mean"], 4)
        summary["margin_short_of_goal"] = round(GOALS["margin_over_token_label"]
                                                - summary["own_minus_token_label_detection_mean"], 4)
    ranks = recall_by_rank(args.blind)
    said, shown = _share_answered_one(Path(args.blind))
    summary["examples_answered"] = shown
    summary["share_answered_1"] = round(said / shown, 4) if shown else None
    for v, r in ranks.items():
        for i, x in enumerate(r["recall_by_rank"]):
            if x is not None:
                summary[f"{v}_detection_recall_rank{i + 1}"] = x
        for k in ("recall", "false_positive_rate"):
            if r[k] is not None:
                summary[f"{v}_detection_{k}"] = r[k]
    write_results(args.out, {"protocol": protocol.PROTOCOL_VERSION, "note": args.note, "sample": args.sample,
                             "read": {"stored": read.stored, "failed": read.failed, "incomplete": read.incomplete},
                             "table": table, "detection_by_rank": ranks, "summary": summary},
                  command=["python", "packaging/explanations/score_report.py", *sys.argv[1:]])
    print(f"{read.stored} stored, {read.failed} failed, {read.incomplete} incomplete -> {args.out}", file=sys.stderr)
    for v, per in table.items():
        for sc, r in per.items():
            print(f"{v:13s} {sc:9s} {r['mean']:.3f} [{r['low']:.3f}, {r['high']:.3f}] n={r['features']}")
    return 0


def _share_answered_one(blind: Path) -> tuple[int, int]:
    """(examples answered 1, examples answered) over every scorer's answers: how lenient the scorers were."""
    import re

    from desktop_sae.core.explanations.blind_files import key_and_answers

    _key, answers = key_and_answers(blind)
    verdicts = [v for a in answers.values() for v in re.findall(r"[01]", a)]
    return verdicts.count("1"), len(verdicts)


if __name__ == "__main__":
    raise SystemExit(main())
