"""The ``summary`` block of the steering results files (``docs/results/steer_eval/``, the Golden Gate pilots and the
set-alignment file under ``docs/results/corpus/``): the few values the README and ``docs/STEERING_EVAL.md`` quote,
computed from the raw measurements the file already holds, each keyed by what it is and its statistic.

On-concept counts are written as text, ``"9/20"`` (answers with a concept keyword / answers), counted from the
answers themselves; means are over the answers of a row. Files measured before results files carried a ``meta``
block get :func:`recorded_meta`: the date of the commit that added their data and a note on what was not recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

DIGITS = 6
METHODS = ("feature", "default", "prompting", "mean_difference")


def _r(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else round(float(v), DIGITS)


def _count(hits: Iterable[bool]) -> str:
    h = [bool(x) for x in hits]
    return f"{sum(h)}/{len(h)}"


def on_concept(row: Mapping[str, Any]) -> str:
    """``"k/n"``: the row's answers that contain a concept keyword (from the answers when the row keeps them)."""
    answers = row.get("answers")
    if answers:
        return _count(bool(a.get("keywords")) for a in answers)
    n = int(row.get("n") or 0)
    return f"{round((row.get('keyword_share') or 0.0) * n)}/{n}"


def eval_summary(res: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of one ``eval-steering`` result (a demo concept, or a variant such as a single feature): the
    report split at the chosen strength for the set and every baseline, and each strength tried on selection."""
    from .table import meets

    rep, sel = res["report"], res["selection"]
    grid = res["settings"].get("strength_grid") or {}
    out: dict[str, Any] = {
        "concept": res["concept"]["name"],
        "features": list(res["concept"]["features"]),
        "strength_x_max_chosen": _r(rep["feature"]["strength"]),
        "report_on_concept": {m: on_concept(rep[m]) for m in METHODS if m in rep},
        "report_nll_mean": {m: _r(rep[m].get("nll_mean")) for m in METHODS if m in rep},
        "report_combined_mean": {m: _r(rep[m].get("combined")) for m in METHODS if m in rep},
        "selection_feature": [{"strength_x_max": _r(r["strength"]), "on_concept": on_concept(r),
                               "keyword_share": _r(r.get("keyword_share")), "nll_mean": _r(r.get("nll_mean")),
                               "combined_mean": _r(r.get("combined"))} for r in sel["feature"]],
        "selection_best_combined_mean": _r(max(r.get("combined") or 0.0 for r in sel["feature"])),
        "default_nll_mean": {"selection": _r(res["references"]["selection"]["default_nll"]),
                             "report": _r(res["references"]["report"]["default_nll"])},
        "fluency_threshold_nll": _r(res["references"]["report"]["threshold"]),
        "goal_met": meets(dict(res)),
    }
    if grid:
        out["strength_grid_norm_fractions"] = list(grid.get("norm_fractions") or ())
    return out


def pilot_summary(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a ``pilot_steering.py`` file: answers on concept over all rows, and the rows that had any."""
    rows = rec["rows"]
    hits = [round(r["on"] * r["n"]) for r in rows]
    n = sum(r["n"] for r in rows)
    return {
        "on_concept": f"{sum(hits)}/{n}",
        "candidates": len({tuple(r["features"]) for r in rows}),
        "strengths_x_max": sorted({r["strength"] for r in rows}),
        "rows_on_concept": [{"features": r["features"], "strength_x_max": r["strength"],
                             "on_concept": f"{h}/{r['n']}", "nll_mean": _r(r["nll"])}
                            for r, h in zip(rows, hits) if h],
    }


def alignment_summary(rec: Mapping[str, Any], previous_k: int = 6) -> dict[str, Any]:
    """The summary of ``set_alignment.py``'s file: the mean cosine of a K-set with the mean difference on the previous
    SAE (its first entry) at the K chosen there, and on the current SAE (its last) the smallest K that reaches it."""
    saes = [v for v in rec.values() if isinstance(v, dict) and "mean" in v]
    prev, cur = ({int(k): float(m) for k, m in s["mean"].items()} for s in (saes[0], saes[-1]))
    target = prev[previous_k]
    match = next((k for k in sorted(cur) if cur[k] >= target), None)
    return {
        f"previous_k{previous_k}_mean_cosine": target,
        f"current_k{previous_k}_mean_cosine": cur[previous_k],
        "current_smallest_k_matching_previous": match,
        "current_matching_k_mean_cosine": None if match is None else cur[match],
        "concepts": len(saes[-1]["per_concept"]),
    }


def fix_code_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a fix-code record (``code_fix.demo_record``): fixes per half for the default and each
    strength, the report half's failure reasons, and the paired sign test."""
    sel, rep = record["selection"], record["report"]

    def frac(r: Mapping[str, Any]) -> str:
        return f"{r['fixed']}/{r['n']}"

    return {
        "feature": record["chosen"]["feature"],
        "strength_x_max_chosen": record["chosen"]["strength"],
        "snippets_per_half": record["split"]["report"],
        "report_fixed": {"default": frac(rep["default"]), "steered": frac(rep["steered"])},
        "report_fix_rate": {"default": _r(rep["default"]["rate"]), "steered": _r(rep["steered"]["rate"])},
        "report_nll_mean": {"default": _r(rep["default"]["nll_mean"]), "steered": _r(rep["steered"]["nll_mean"])},
        "report_steered_reasons": {k: f"{v}/{rep['steered']['n']}" for k, v in rep["steered"]["reasons"].items()},
        "report_only_steered": rep["paired"]["only_steered"],
        "report_only_default": rep["paired"]["only_default"],
        "report_sign_test_p": _r(rep["paired"]["sign_test_p"]),
        "selection_fixed": {"default": frac(sel["default"]),
                            **{f"x{r['strength']:g}": frac(r) for r in sel["steered"]}},
        "selection_nll_mean": {"default": _r(sel["default"]["nll_mean"]),
                               **{f"x{r['strength']:g}": _r(r["nll_mean"]) for r in sel["steered"]}},
        "selection_fix_rate": {"default": _r(sel["default"]["rate"]),
                               **{f"x{r['strength']:g}": _r(r["rate"]) for r in sel["steered"]}},
        "default_tokens_mean": {"selection": _r(sel["default"]["tokens_mean"]),
                                "report": _r(rep["default"]["tokens_mean"])},
        "seconds": _r(record.get("seconds")),
        "selection_no_code": {f"x{r['strength']:g}": f"{r['reasons'].get('no code', 0)}/{r['n']}"
                              for r in sel["steered"]},
    }


def recorded_meta(date: str, command: str, note: str, machine: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``meta`` block of a file measured before meta blocks existed: what is known, ``None`` for the rest."""
    return {"date": date, "machine": dict(machine) if machine else None,
            "load_average_1min": None, "versions": None, "command": command, "note": note}


def with_blocks(rec: Mapping[str, Any], meta: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, Any]:
    """``rec`` with ``meta`` and ``summary`` first (an existing meta block is kept; the summary is recomputed)."""
    body = {k: v for k, v in rec.items() if k not in ("meta", "summary")}
    return {"meta": dict(rec.get("meta") or meta), "summary": dict(summary), **body}
