"""The demo-concept table, rebuilt from eval-steering results (one JSON per concept): the report split's figures
for the feature steer at its chosen strength beside the default answers and both baselines, as Markdown, and the
same figures written into ``resources/demo_features.json``."""

from __future__ import annotations

import math
from collections.abc import Sequence

GOALS = {"golden_gate": (0.5, 4.0)}  # concept -> (keyword share >=, mean NLL <=); every other concept: DEFAULT_GOAL
DEFAULT_GOAL = (0.6, 4.5)


def goal(name: str) -> tuple[float, float]:
    return GOALS.get(name, DEFAULT_GOAL)


def _share(r: dict) -> str:
    n, k = r.get("n") or 0, r.get("keyword_share")
    return "–" if not n or k is None else f"{round(k * n)}/{n}"


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def _features(res: dict) -> str:
    c = res["concept"]
    feats, weights = c["features"], c.get("weights") or [1.0] * len(c["features"])
    if len(feats) == 1:
        return f"#{feats[0]}"
    return " ".join(f"#{f}" + ("" if w == 1 else f"·{w:.2g}") for f, w in zip(feats, weights))


def meets(res: dict, method: str = "feature") -> bool:
    """The concept's goal on the report split: keyword share and mean NLL (and, beside Golden Gate, a better
    combined score than the mean-difference baseline)."""
    r = res["report"].get(method)
    if not r:
        return False
    share, nll = goal(res["concept"]["name"])
    ok = (r.get("keyword_share") or 0) >= share and (r.get("nll_mean") if r.get("nll_mean") is not None
                                                      else math.inf) <= nll
    md = res["report"].get("mean_difference")
    if ok and md and res["concept"]["name"] not in GOALS:
        ok = (r.get("combined") or 0) > (md.get("combined") or 0)
    return ok


HEADER = ("| concept | features (weight) | strength | on concept: feature · default · prompting · mean diff "
          "| NLL: feature · mean diff · prompting | combined: feature · mean diff · prompting | goal |\n"
          "|---|---|---|---|---|---|---|")


def table_row(res: dict) -> str:
    rep = res["report"]
    f, d = rep["feature"], rep["default"]
    p, md = rep.get("prompting", {}), rep.get("mean_difference", {})
    share, nll = goal(res["concept"]["name"])
    return (f"| {res['concept']['label']} | {_features(res)} | {res['settings']['method']} {f['strength']:g}× "
            f"| {_share(f)} · {_share(d)} · {_share(p)} · {_share(md)} "
            f"| {_num(f.get('nll_mean'))} · {_num(md.get('nll_mean'))} · {_num(p.get('nll_mean'))} "
            f"| {_num(f.get('combined'))} · {_num(md.get('combined'))} · {_num(p.get('combined'))} "
            f"| {'met' if meets(res) else 'missed'} (≥ {share:.0%}, NLL ≤ {nll:g}) |")


def markdown_table(results: Sequence[dict]) -> str:
    return "\n".join([HEADER, *(table_row(r) for r in results)])


def demo_entry_update(res: dict) -> dict:
    """The measured fields a demo concept's entry gets from its evaluation (report split, chosen strength)."""
    rep = res["report"]
    f, d = rep["feature"], rep["default"]
    keep = ("n", "keyword_share", "fires_share", "nll_mean", "fluent_share", "combined", "concept", "fluency",
            "relevance")
    out = {"strength": f["strength"], "unit": "max", "method": res["settings"]["method"],
           "measured": {"by": "desktop-sae eval-steering (report split, strength chosen on the selection split)",
                        "seeds": res["settings"]["seeds"], "max_new_tokens": res["settings"]["max_new_tokens"],
                        "goal_met": meets(res)}}
    for name, r in (("feature", f), ("default", d), ("prompting", rep.get("prompting")),
                    ("mean_difference", rep.get("mean_difference"))):
        if r:
            out["measured"][name] = {k: r[k] for k in keep if k in r}
    return out
