"""Faithfulness of attribution graphs on the bundled model (docs/ATTRIBUTION.md, "Faithfulness"):

    python packaging/attribution/measure_faithfulness.py --prompts packaging/attribution/prompts_heldout.jsonl \
        --json docs/results/attribution/faithfulness_heldout.json

For each prompt (the chat template around ``user``, then ``answer_prefix``) the target is the model's greedy next
token. The graph is built with the app's default settings and every depth SAE shipped beside the bundled SAE; its
``--top`` strongest feature nodes are ablated one at a time (activation to zero, the SAE error kept) and the live
model re-run: the predicted (first-order) change of the target logit against the actual one. Per prompt: Spearman's
ρ over those nodes and the share whose signs agree; also the graph's completeness scores and time. Each
``--linearisation`` given is measured on the same prompts (the default, live, was chosen on the dev prompts only);
the others are diagnostics computed from node effects alone (no edges, so no completeness scores, and their top
nodes are taken before edge pruning).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    """The median of a graph score, None where the graphs had no edges (a diagnostic mode)."""
    return round(statistics.median(r[key] for r in rows), 3) if rows and rows[0]["edges"] else None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))], 3)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    rhos = [r["spearman"] for r in rows if r["spearman"] == r["spearman"]]
    pairs = [(p, a) for r in rows for p, a in zip(r["predicted"], r["actual"])]
    agree = sum((p > 0) == (a > 0) for p, a in pairs)
    return {
        "prompts": len(rows),
        "spearman_median": round(statistics.median(rhos), 3) if rhos else None,
        "spearman_mean": round(statistics.mean(rhos), 3) if rhos else None,
        "prompts_with_spearman_at_least_0.7": sum(r >= 0.7 for r in rhos),
        "sign_agreement_pooled": round(agree / len(pairs), 3) if pairs else None,
        "sign_agreement_median_per_prompt": round(statistics.median(r["sign_agreement"] for r in rows), 3),
        # how far the size is off: actual / predicted over every ablated node (1 = exact)
        "actual_over_predicted_median": round(statistics.median(a / p for p, a in pairs if p), 3) if pairs else None,
        "actual_over_predicted_p10": _quantile([a / p for p, a in pairs if p], 0.1),
        "actual_over_predicted_p90": _quantile([a / p for p, a in pairs if p], 0.9),
        "completeness_median": _median(rows, "completeness"),
        "replacement_median": _median(rows, "replacement"),
        "feature_share_median_by_layer": {
            str(layer): round(statistics.median(r["feature_share"][str(layer)] for r in rows), 3)
            for layer in rows[0]["feature_share"]} if rows else {},
        "graph_seconds_median": round(statistics.median(r["seconds"] for r in rows), 2),
        "target_prob_median": round(statistics.median(r["target_prob"] for r in rows), 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--json", default=None, help="write the results file here")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--linearisation", action="append", choices=["live", "attention", "frozen"], default=None)
    ap.add_argument("--limit", type=int, default=None, help="only the first N prompts (a smoke run)")
    ap.add_argument("--resummarise", action="store_true", help="recompute --json's summary from its runs")
    a = ap.parse_args(argv)
    if a.resummarise:
        from desktop_sae.core.support.results_file import write_results

        doc = json.loads(Path(a.json).read_text())
        write_results(a.json, {"summary": {m: summarise(rows) for m, rows in doc["runs"].items()},
                               "settings": doc["settings"], "runs": doc["runs"]})
        return 0
    import torch

    torch.set_num_threads(2)
    from desktop_sae.core.attribution.attribute import Settings
    from desktop_sae.core.attribution.attributor import Attributor
    from desktop_sae.core.attribution.interventions import faithfulness
    from desktop_sae.core.attribution.llama_functional import Linearisation
    from desktop_sae.core.engine.chat_prompt import answer_context_ids
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.support.paths import default_sae_dir
    from desktop_sae.core.support.results_file import write_results

    lm = load_model()
    folder = default_sae_dir()
    att = Attributor.for_model(lm, load_sae(folder) if folder else None, folder)
    rows_in = [json.loads(line) for line in Path(a.prompts).read_text().splitlines() if line.strip()]
    rows_in = rows_in[: a.limit] if a.limit else rows_in
    modes = a.linearisation or ["live"]
    results: dict[str, Any] = {}
    for mode in modes:
        # the default builds the whole graph as the app does; the other modes, diagnostics, only their node effects
        settings = Settings(linearisation=Linearisation(mode), edges=mode == "live")
        rows = []
        for row in rows_in:
            ids = answer_context_ids(lm.tokenizer, row["user"], row["answer_prefix"])
            target = att.candidates(ids, 1)[0]
            graph, state = att.graph(ids, target.token_id, settings=settings)
            f = faithfulness(state, graph.features(), a.top)
            rows.append({
                "id": row["id"], "kind": row["kind"], "tokens": len(ids), "target": target.token,
                "target_prob": round(target.prob, 4), "spearman": f.spearman, "sign_agreement": f.sign_agreement,
                "predicted": [i.predicted for i in f.interventions], "actual": [i.actual for i in f.interventions],
                "nodes": [i.node for i in f.interventions], "completeness": graph.completeness,
                "replacement": graph.replacement,
                "feature_share": {str(s.layer): s.feature_share for s in graph.shares},
                "seconds": graph.seconds, "n_nodes": len(graph.nodes), "n_edges": len(graph.edges),
                "edges": settings.edges})
            print(f"{mode} {row['id']} {target.token!r} rho {f.spearman:.2f} sign {f.sign_agreement:.2f} "
                  f"{graph.seconds:.1f}s", file=sys.stderr, flush=True)
        results[mode] = {"summary": summarise(rows), "prompts": rows}
    settings_doc = {"prompts": a.prompts, "top": a.top, "depths": list(att.layers),
                    "saes": [d.name for d in att.saes], "defaults": "Settings()", "model": lm.name,
                    "model_dtype": str(lm.dtype), "measured": time.strftime("%Y-%m-%d")}
    summary = {mode: results[mode]["summary"] for mode in modes}
    print(json.dumps(summary, indent=1))
    if a.json:
        write_results(a.json, {"summary": summary, "settings": settings_doc,
                               "runs": {m: results[m]["prompts"] for m in modes}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
