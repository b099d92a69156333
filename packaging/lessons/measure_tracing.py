"""The lesson "Tracing a thought" (resources/lessons/tracing-a-thought.json) on the bundled model, measured:

    python packaging/lessons/measure_tracing.py --json docs/results/lessons/tracing_a_thought.json

For each candidate (a user prompt, the start of the answer, the expected answer token and a one-token alternative)
the context is built as the lesson's ``trace`` action builds it (``app.lesson_trace.trace_ids``), the target is the
model's greedy next token, and the graph is built with the app's default settings over the bundled SAE and every
depth SAE beside it (as ``packaging/attribution/measure_faithfulness.py``). Recorded: the greedy answer token and
its probability, the strongest feature node with a positive effect (``lesson_trace.strongest_positive``: layer,
position and its token, feature, label, effect), its ablation (predicted and actual change of the target logit, the
target's probability after, the model's new top token and its probability), and for a candidate that works the
graph of target − alternative.

A candidate **works** when the greedy token is the expected one and the ablation changes the top answer token or
at least halves the target's probability. The lesson uses the first candidate (in this order) that works.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

CANDIDATES = [
    {"id": "opposite-hot", "kind": "opposite", "prompt": "What is the opposite of hot?",
     "answer": "The opposite of hot is", "expect": " cold", "alt": " warm"},
    {"id": "capital-france", "kind": "fact", "prompt": "What is the capital of France?",
     "answer": "The capital of France is", "expect": " Paris", "alt": " London"},
    {"id": "opposite-up", "kind": "opposite", "prompt": "What is the opposite of up?",
     "answer": "The opposite of up is", "expect": " down", "alt": " left"},
    {"id": "opposite-black", "kind": "opposite", "prompt": "What is the opposite of black?",
     "answer": "The opposite of black is", "expect": " white", "alt": " red"},
    {"id": "sky-colour", "kind": "fact", "prompt": "What colour is the sky on a clear day?",
     "answer": "On a clear day the sky is", "expect": " blue", "alt": " grey"},
    {"id": "rhyme-star", "kind": "rhyme", "prompt": "Finish the rhyme: Twinkle, twinkle, little star",
     "answer": "Twinkle, twinkle, little star, how I wonder what you", "expect": " are", "alt": " were"},
    {"id": "rhyme-cat", "kind": "rhyme", "prompt": "What word rhymes with cat?",
     "answer": "A word that rhymes with cat is", "expect": " hat", "alt": " bat"},
    {"id": "opposite-fast", "kind": "opposite", "prompt": "What is the opposite of fast?",
     "answer": "The opposite of fast is", "expect": " slow", "alt": " quick"},
    {"id": "opposite-happy", "kind": "opposite", "prompt": "What is the opposite of happy?",
     "answer": "The opposite of happy is", "expect": " sad", "alt": " angry"},
    {"id": "animal-moo", "kind": "fact", "prompt": "Which animal says moo?",
     "answer": "The animal that says moo is a", "expect": " cow", "alt": " dog"},
    {"id": "bees-make", "kind": "fact", "prompt": "What do bees make?",
     "answer": "Bees make", "expect": " honey", "alt": " wax"},
    {"id": "opposite-yes", "kind": "opposite", "prompt": "What is the opposite of yes?",
     "answer": "The opposite of yes is", "expect": " no", "alt": " maybe"},
    {"id": "plural-mouse", "kind": "fact", "prompt": "What is the plural of mouse?",
     "answer": "The plural of mouse is", "expect": " mice", "alt": " mouse"},
    {"id": "animal-barks", "kind": "fact", "prompt": "Which animal barks?",
     "answer": "The animal that barks is a", "expect": " dog", "alt": " cat"},
    {"id": "grass-colour", "kind": "fact", "prompt": "What colour is grass?",
     "answer": "Grass is", "expect": " green", "alt": " blue"},
    {"id": "rhyme-jill", "kind": "rhyme", "prompt": "Finish the nursery rhyme: Jack and Jill went up the",
     "answer": "Jack and Jill went up the", "expect": " hill", "alt": " stairs"},
    {"id": "capital-japan", "kind": "fact", "prompt": "What is the capital of Japan?",
     "answer": "The capital of Japan is", "expect": " Tokyo", "alt": " Kyoto"},
    {"id": "frozen-water", "kind": "fact", "prompt": "What is frozen water called?",
     "answer": "Frozen water is called", "expect": " ice", "alt": " snow"},
    {"id": "baby-cat", "kind": "fact", "prompt": "What is a baby cat called?",
     "answer": "A baby cat is called a", "expect": " kitten", "alt": " puppy"},
    {"id": "opposite-day", "kind": "opposite", "prompt": "What is the opposite of day?",
     "answer": "The opposite of day is", "expect": " night", "alt": " evening"},
]


def r(x: float, n: int = 4) -> float:
    return round(float(x), n)


def measure(att: Any, tok: Any, c: dict[str, str], names: Any) -> dict[str, Any]:
    from desktop_sae.app.lesson_trace import one_token, strongest_positive, trace_ids
    from desktop_sae.core.attribution.interventions import set_activations

    ids = trace_ids(tok, c["prompt"], c["answer"])
    top = att.candidates(ids, 3)
    graph, state = att.graph(ids, top[0].token_id)
    row: dict[str, Any] = {
        **c, "tokens": len(ids), "greedy": top[0].token, "greedy_prob": r(top[0].prob),
        "runners_up": [[t.token, r(t.prob)] for t in top[1:]], "correct": top[0].token == c["expect"],
        "graph": {"seconds": r(graph.seconds, 1), "nodes": len(graph.nodes), "edges": len(graph.edges),
                  "completeness": r(graph.completeness, 3), "replacement": r(graph.replacement, 3),
                  "feature_share": {str(s.layer): r(s.feature_share, 3) for s in graph.shares}},
    }
    node = strongest_positive(graph)
    if node is None:
        row["works"] = False
        return row
    iv = set_activations(state, [node], [0.0])[0]
    after = att.token(iv.top_after)
    row["strongest"] = {"layer": node.layer, "position": node.position, "token": graph.tokens[node.position],
                        "feature": node.feature, "label": names(node.layer, node.feature),
                        "activation": r(node.activation), "effect": r(node.effect)}
    row["ablation"] = {"predicted": r(iv.predicted), "actual": r(iv.actual), "target_prob_before": r(top[0].prob),
                       "target_prob_after": r(iv.after_prob), "top_after": after,
                       "top_after_prob": r(iv.top_after_prob), "answer_changed": after != top[0].token}
    row["works"] = bool(row["correct"] and (after != top[0].token or iv.after_prob <= 0.5 * top[0].prob))
    if not row["works"]:
        return row  # the alternative's graph only for a candidate the lesson could use
    alt_id = one_token(tok, c["alt"])
    g2, _ = att.graph(ids, top[0].token_id, alt_id)
    node2 = strongest_positive(g2)
    row["alternative"] = {"alt": c["alt"], "logit_difference": r(g2.target_value),
                          "strongest": None if node2 is None else {
                              "layer": node2.layer, "token": g2.tokens[node2.position], "feature": node2.feature,
                              "label": names(node2.layer, node2.feature), "effect": r(node2.effect)},
                          "completeness": r(g2.completeness, 3)}
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default=None, help="write the results file here")
    ap.add_argument("--only", nargs="*", default=None, help="candidate ids to measure (default: all)")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    from desktop_sae.core.attribution.attributor import Attributor
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.explanations.catalogs import catalog_for
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.support.paths import default_sae_dir
    from desktop_sae.core.support.results_file import write_results

    lm = load_model()
    folder = default_sae_dir()
    warnings: list[str] = []
    att = Attributor.for_model(lm, load_sae(folder) if folder else None, folder, warnings=warnings)
    catalogs = {d.layer: catalog_for(d.sae, d.folder) for d in att.saes}

    def names(layer: int, f: int) -> str:
        cat = catalogs.get(layer)
        return (cat.label(f) if cat is not None else "") or f"#{f}"

    rows = []
    for c in CANDIDATES:
        if a.only and c["id"] not in a.only:
            continue
        row = measure(att, lm.tokenizer, c, names)
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
    chosen = next((x["id"] for x in rows if x["works"]), None)
    summary = {"chosen": chosen, "works": [x["id"] for x in rows if x["works"]],
               "correct": [x["id"] for x in rows if x["correct"]]}
    print(json.dumps(summary, indent=1))
    if a.json:
        write_results(a.json, {"summary": summary, "settings": {
            "depths": list(att.layers), "saes": [d.name for d in att.saes], "warnings": warnings,
            "defaults": "Settings()", "model": lm.name, "model_dtype": str(lm.dtype),
            "rule": "works: greedy token == expected and ablating the strongest positive feature node changes the "
                    "top token or at least halves its probability", "measured": time.strftime("%Y-%m-%d %H:%M")},
            "candidates": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
