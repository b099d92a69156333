"""Time and memory of an attribution graph on the bundled model (a benchmark, not a timed test):

    python tests/bench/bench_attribution.py --json docs/results/bench/attribution.json     # 7 rounds
    python tests/bench/bench_attribution.py --smoke --json /tmp/attribution.json           # 1 round: the script works

A 32-token context (plain text, no chat template) and the model's top next token as the target; the graph uses
every SAE shipped for the bundled model (the main SAE and its depth SAEs) with the app's default settings. The
baseline measured in the same run, alternating with the graph, is one plain forward pass of the same 32 tokens in
the re-stated float32 model (``clean_pass``). Reported: the median and best of the rounds, the ratio of the
medians, where the time goes, and the process's peak resident memory against its resident memory with the model
loaded (``ru_maxrss``, Linux). The goal (an issue's) is at most 5 s per graph on these 2-core CPUs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

TEXT = ("The Golden Gate Bridge is a suspension bridge spanning the strait that connects San Francisco Bay to the "
        "Pacific Ocean. It was opened in 1937 and was then the longest suspension bridge in the world, painted in")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=None, help="default 7 (1 with --smoke)")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rounds = a.rounds or (1 if a.smoke else 7)
    import torch

    from desktop_sae.core.attribution.attributor import Attributor
    from desktop_sae.core.attribution.llama_functional import clean_pass
    from desktop_sae.core.engine.chat_prompt import text_ids
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.support.paths import default_sae_dir
    from desktop_sae.core.support.results_file import write_results

    lm = load_model()
    folder = default_sae_dir()
    att = Attributor.for_model(lm, load_sae(folder) if folder else None, folder)
    ids = text_ids(lm.tokenizer, TEXT)[: a.tokens]
    if len(ids) < a.tokens:
        raise SystemExit(f"the text has only {len(ids)} tokens")
    rss_model = _rss_mb()
    w = att.weights  # read once, as the app does on the first graph
    ids_t = torch.tensor(ids)
    target = att.candidates(ids, 1)[0]
    att.graph(ids, target.token_id)  # warm-up
    graph_s, forward_s, parts = [], [], []
    graph = None
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(5):
            clean_pass(w, ids_t)
        forward_s.append((time.perf_counter() - t) / 5)
        t = time.perf_counter()
        graph, _ = att.graph(ids, target.token_id)
        graph_s.append(time.perf_counter() - t)
        parts.append(dict(graph.timings))
        print(f"graph {graph_s[-1]:.2f} s, forward {forward_s[-1] * 1000:.0f} ms", file=sys.stderr, flush=True)
    assert graph is not None
    med_g, med_f = statistics.median(graph_s), statistics.median(forward_s)
    summary = {
        "context_tokens": len(ids), "target": target.token, "depths": list(att.layers), "rounds": rounds,
        "graph_s_median": round(med_g, 3), "graph_s_best": round(min(graph_s), 3),
        "forward_ms_median": round(med_f * 1000, 1),
        "graph_over_forward_median": round(med_g / med_f, 1),
        "edges_s_median": round(statistics.median(p["edges"] for p in parts), 3),
        "forward_backward_s_median": round(statistics.median(p["forward_backward"] for p in parts), 3),
        "nodes": len(graph.nodes), "edges": len(graph.edges), "active_features": graph.n_active,
        "peak_rss_mb": round(_rss_mb(), 0), "rss_with_model_mb": round(rss_model, 0),
        "float32_weights_mb": round(w.nbytes() / 2**20, 0), "model_dtype": str(lm.dtype),
        "goal_s": 5.0, "device": "cpu", "threads": torch.get_num_threads(),
    }
    print(summary)
    if a.json:
        write_results(a.json, {"summary": summary, "smoke": a.smoke,
                               "raw": {"graph_s": graph_s, "forward_s": forward_s, "timings": parts}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
