"""Which layer steers best? Model-only comparison (no SAE needed), used to choose the shipped SAE's hook.

For each layer L and concept: v = mean residual (hook_resid_post, non-special tokens) on concept sentences minus
on neutral sentences, rescaled to a fraction of the layer's typical residual norm, added at every position while
generating. Reports the share of on-concept and fluent answers per layer (same seeds and prompts everywhere).

Usage: python packaging/corpus/compare_layers.py [--layers 6,9,12,15,18] [--fractions 0.5,1.0] [--seeds 4]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from measure_demo_features import CONCEPTS, NEUTRAL, PROMPTS, fluent, on_concept
from summarise_results import compare_layers_summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", default="6,9,12,15,18")
    ap.add_argument("--fractions", default="0.5,1.0")
    ap.add_argument("--concepts", default="golden_gate,scam,religion")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--max-new", type=int, default=32)
    ap.add_argument("--out", default="work_data/compare_layers.json")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    from desktop_sae.core.engine.hooks import hooks
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.engine.sampling import SamplingConfig
    from desktop_sae.core.engine.session import Session
    from desktop_sae.core.support.results_file import load_average, write_results

    session = Session(load_model())
    special = set(session.special_ids)
    model = session.lm.model

    def resid(layer, texts):
        session.hook_name = f"blocks.{layer}.hook_resid_post"
        rows = []
        for t in texts:
            ids = session.prompt_ids(t, chat=False)
            x = session.activations(ids).float()
            rows.append(x[[i for i, tid in enumerate(ids) if tid not in special]])
        session.hook_name = None
        return torch.cat(rows)

    out: list[dict] = []
    load = load_average()
    for layer in map(int, a.layers.split(",")):
        neutral = resid(layer, NEUTRAL)
        norm = float(neutral.norm(dim=1).mean())
        for name in a.concepts.split(","):
            c = CONCEPTS[name]
            v = resid(layer, c["texts"]).mean(0) - neutral.mean(0)
            v = v / v.norm()
            for frac in map(float, a.fractions.split(",")):
                delta = (frac * norm) * v
                on = flu = good = n = 0
                with hooks(model, {f"blocks.{layer}.hook_resid_post": lambda x, d=delta: x + d.to(x.dtype)}):
                    for p in PROMPTS[:2]:
                        for seed in range(a.seeds):
                            r = session.generate(p, SamplingConfig(seed=seed, max_new_tokens=a.max_new))
                            n += 1
                            on += on_concept(r.text, c["keywords"])
                            flu += fluent(r.answer_ids)
                            good += on_concept(r.text, c["keywords"]) and fluent(r.answer_ids)
                rec = {"layer": layer, "concept": name, "fraction_of_norm": frac, "typical_norm": norm,
                       "on_concept": on / n, "fluent": flu / n, "on_concept_and_fluent": good / n, "n": n}
                out.append(rec)
                print(json.dumps(rec), file=sys.stderr, flush=True)
                write_results(a.out, {"summary": compare_layers_summary(out), "runs": out}, load_before=load,
                              command=["python", "packaging/corpus/compare_layers.py", *(argv or sys.argv[1:])])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
