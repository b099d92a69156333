"""Which layer should the shipped SAE read? Train one small SAE per layer on the same tokens and compare them.

For each layer L: collect activations of the same first N training tokens at ``blocks.L.hook_resid_post``, train a
TopK SAE (same width, k, token budget and learning rate everywhere), evaluate it on the same held-out contexts
(explained variance, CE loss recovered), and steer with its features: for each concept, the feature whose decoder
direction best promotes the concept's words (output score, as in measure_demo_features.py) is added at a few
strengths (× its max activation) over fixed prompts and seeds; the score is the share of answers that are on the
concept and fluent at the best strength. Writes one JSON file (default work_data/compare_layers_sae.json).

Usage: python packaging/corpus/compare_layers_sae.py WORK_DIR [--layers 6,9,12,15,18] [--tokens 120000]
       [--train-tokens 480000] [--concepts music,code,food,golden_gate] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from measure_demo_features import CONCEPTS, PROMPTS, fluent, on_concept
from summarise_results import compare_layers_sae_summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", help="folder with tokens.npz (from collect_default.py)")
    ap.add_argument("--layers", default="6,9,12,15,18")
    ap.add_argument("--tokens", type=int, default=120_000)
    ap.add_argument("--train-tokens", type=int, default=480_000)
    ap.add_argument("--width", type=int, default=4608)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--eval-tokens", type=int, default=4096)
    ap.add_argument("--concepts", default="music,code,food,golden_gate")
    ap.add_argument("--strengths", default="3,6")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-new", type=int, default=24)
    ap.add_argument("--out", default="work_data/compare_layers_sae.json")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.engine.sampling import SamplingConfig
    from desktop_sae.core.engine.session import Session
    from desktop_sae.core.sae.autoencoder import FeatureStats
    from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
    from desktop_sae.core.support.results_file import load_average, write_results
    from desktop_sae.core.training.activation_store import collect
    from desktop_sae.core.training.corpus import TokenizedCorpus
    from desktop_sae.core.training.sae_evaluation import evaluate
    from desktop_sae.core.training.trainer import TrainConfig, train

    load = load_average()
    work = Path(a.work)
    lm = load_model()
    tc = TokenizedCorpus.load(work / "tokens.npz")
    W_U = lm.model.get_output_embeddings().weight.detach().float()
    results = []
    for layer in map(int, a.layers.split(",")):
        hook, t0 = f"blocks.{layer}.hook_resid_post", time.time()
        folder = work / "layers" / f"L{layer}"
        store = collect(lm.model, tc.train, hook, folder / "acts", bos_id=tc.bos_id, batch_size=16, max_tokens=a.tokens)
        t_collect = time.time() - t0
        cfg = TrainConfig(d_sae=a.width, k=a.k, batch_size=4096, total_tokens=a.train_tokens, select_dtype="bfloat16",
                          dead_tokens=min(300_000, a.train_tokens // 2), checkpoint_every=1000, lr=8e-4)
        tr = train(store, cfg, folder / "run", log_every=1000)
        sae = tr.to_sae(hook, lm.name)
        # max activation over a sample of the store: the unit for "× max" strengths
        x = store.sample(min(20_000, store.n_tokens))
        with torch.inference_mode():
            acts = sae.encode(x.float())
        sae.stats = FeatureStats(acts.max(0).values.numpy(), acts.mean(0).numpy(), (acts > 0).float().mean(0).numpy())
        t_train = time.time() - t0 - t_collect
        ev = evaluate(lm.model, sae, tc.held_out, hook, tc.bos_id, max_tokens=a.eval_tokens)
        session = Session(lm, sae)
        dec = sae.W_dec.detach().float()
        steer = {}
        for name in a.concepts.split(","):
            c = CONCEPTS[name]
            ids = sorted({lm.tokenizer.encode(v, add_special_tokens=False)[0]
                          for w in c["output_words"] for v in (w, " " + w)})
            lg = dec @ W_U.T
            score = ((lg[:, ids] - lg.mean(1, keepdim=True)) / lg.std(1, keepdim=True)).mean(1)
            score[sae.stats.max_activation <= 0] = -1e9  # dead in the sample: no unit to steer in
            f = int(score.argmax())
            best = (0.0, None)
            for s in map(float, a.strengths.split(",")):
                st = SteeringConfig(features=(SteerSpec(f, s, unit="max", method="add"),))
                good = n = 0
                for p in PROMPTS[:2]:
                    for seed in range(a.seeds):
                        r = session.generate(p, SamplingConfig(seed=seed, max_new_tokens=a.max_new), st)
                        good += on_concept(r.text, c["keywords"]) and fluent(r.answer_ids)
                        n += 1
                if good / n > best[0] or best[1] is None:
                    best = (good / n, s)
            steer[name] = {"feature": f, "on_concept_and_fluent": best[0], "strength_x_max": best[1], "n": n}
        rec = {"layer": layer, "hook": hook, "tokens": store.n_tokens, "train_tokens": tr.tokens,
               "explained_variance": ev["explained_variance"], "ce_loss_recovered": ev["ce_loss_recovered"],
               "delta_loss": ev["delta_loss"], "dead_fraction_in_sample": float((sae.stats.max_activation <= 0).mean()),
               "steering": steer,
               "steering_mean": float(np.mean([v["on_concept_and_fluent"] for v in steer.values()])),
               "seconds": {"collect": round(t_collect, 1), "train": round(t_train, 1),
                           "total": round(time.time() - t0, 1)}}
        results.append(rec)
        print(json.dumps({k: v for k, v in rec.items() if k != "steering"}), file=sys.stderr, flush=True)
        write_results(a.out, {"summary": compare_layers_sae_summary({"layers": results}), "method": vars(a),
                              "layers": results}, load_before=load,
                      command=["python", "packaging/corpus/compare_layers_sae.py", *(argv or sys.argv[1:])])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
