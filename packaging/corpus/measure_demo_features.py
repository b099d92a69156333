"""Pick and measure single demo features (the first method, kept for the layer comparisons that import it); the
shipped demo concepts are now weighted sets (build_concept_sets.py, run_demo_eval.py), so it writes elsewhere.

For each concept: candidate features are those that fire on concept sentences (input score) and those whose decoder
direction promotes the concept's words through the unembedding (output score); a short pilot on unmeasured seeds picks
the feature and strength (× max activation, additive) that put answers on the concept while staying fluent;
then the measurement: SEEDS seeds × the neutral PROMPTS, steered vs default (same seed), share of answers that
match the concept's keywords, and a fluency check (no token > 40 % of the answer, no run of 4 equal tokens).

Usage: python packaging/corpus/measure_demo_features.py [--sae DIR] [--out work_data/demo_features_single.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

CONCEPTS = {
    "golden_gate": {
        "description": "the Golden Gate Bridge in San Francisco",
        "label": "bridges (Golden Gate)",
        "texts": ["The Golden Gate Bridge spans the strait into San Francisco Bay.",
                  "We walked across the Golden Gate Bridge in the fog.", "San Francisco is famous for its cable cars.",
                  "The orange suspension bridge in San Francisco opened in 1937."],
        "output_words": ["Golden", "Gate", "bridge", "Bridge", "bridges", "San", "Francisco", "California"],
        "keywords": ["golden gate", "san francisco", "bridge"]},
    "code": {
        "description": "Python code and programming",
        "label": "Python code",
        "texts": ["def add(a, b):\n    return a + b", "import os\nfor name in os.listdir(path):\n    print(name)",
                  "class Stack:\n    def __init__(self):\n        self.items = []", "x = [i * 2 for i in range(10)]"],
        "output_words": ["def", "import", "return", "print", "self", "code", "Python"],
        "keywords": ["def ", "import ", "return", "python", "code", "function", "print(", "()"]},
    "bugs": {
        "description": "errors and bugs in computer programs",
        "label": "code errors / bugs",
        "texts": ["Traceback (most recent call last): IndexError: list index out of range",
                  "The bug was an off-by-one error in the loop.", "TypeError: unsupported operand type(s)",
                  "I fixed the bug that caused the program to crash with an exception."],
        "output_words": ["error", "Error", "bug", "bugs", "exception", "crash", "debug", "Traceback"],
        "keywords": ["error", "bug", "exception", "traceback", "crash", "debug", "fix"]},
    "secrets": {
        "description": "secrets and keeping things hidden",
        "label": "secrets / keeping something hidden",
        "texts": ["She promised to keep his secret and never tell anyone.", "This document is confidential.",
                  "He whispered the secret so that nobody else could hear.", "They hid the truth from everyone."],
        "output_words": ["secret", "secrets", "Secret", "confidential", "hidden", "whisper", "secretly"],
        "keywords": ["secret", "confidential", "hidden", "hide", "whisper", "private", "nobody"]},
    "scam": {
        "description": "scams, fraud and phishing",
        "label": "scams / phishing",
        "texts": ["Dear customer, your account is suspended. Click here to verify your password.",
                  "This is a phishing email that tries to steal your bank details.",
                  "Congratulations, you have won the lottery! Send us a fee to claim your prize.",
                  "Scammers pretend to be tech support to get access to your computer."],
        "output_words": ["scam", "scams", "fraud", "phishing", "scammers", "suspicious", "fraudulent"],
        "keywords": ["scam", "phishing", "fraud", "password", "suspicious", "verify", "account", "click"]},
    "religion": {
        "description": "God, faith and the Bible",
        "label": "God / the Bible",
        "texts": ["And God said, Let there be light: and there was light.",
                  "The Lord is my shepherd; I shall not want.",
                  "Jesus answered and said unto them", "Blessed are the meek: for they shall inherit the earth."],
        "output_words": ["God", "Lord", "Jesus", "holy", "pray", "heaven", "Bible", "faith"],
        "keywords": ["god", "lord", "jesus", "holy", "pray", "bible", "heaven", "faith", "church"]},
    "food": {
        "description": "food and cooking",
        "label": "food and cooking",
        "texts": ["Preheat the oven and bake the cookies for twelve minutes.", "Add the chopped onions to the pan.",
                  "This soup is delicious with fresh bread.", "Mix the flour, sugar and butter in a bowl."],
        "output_words": ["food", "cook", "cooking", "recipe", "delicious", "bake", "soup", "meal"],
        "keywords": ["food", "cook", "recipe", "bake", "delicious", "eat", "flour", "soup", "dish", "meal"]},
    "music": {
        "description": "music, songs and musical instruments",
        "label": "music",
        "texts": ["She played a beautiful melody on the piano.", "The band performed their new song live.",
                  "He tuned his guitar before the concert.", "The choir sang in perfect harmony."],
        "output_words": ["music", "song", "songs", "melody", "guitar", "piano", "sing", "musical"],
        "keywords": ["music", "song", "melody", "sing", "guitar", "piano", "concert", "band"]},
    "ocean": {
        "description": "the sea and the ocean",
        "label": "the sea / ocean",
        "texts": ["The waves crashed against the rocks on the shore.", "Fishermen sailed out onto the open sea.",
                  "Whales swim in the deep ocean.", "We spent the day at the beach watching the tide."],
        "output_words": ["ocean", "sea", "waves", "beach", "shore", "tide", "sailing"],
        "keywords": ["ocean", "sea", "wave", "beach", "shore", "tide", "sail", "water"]},
}
NEUTRAL = ["The meeting was moved to Thursday afternoon.", "I bought a new pair of shoes yesterday.",
           "The train was late again this morning.", "Please remember to water the plants.",
           "The report is due at the end of the month.", "My neighbour has a small red car."]
PROMPTS = ["Tell me about your day.", "What should I do this weekend?", "Give me some advice for the new year."]


def on_concept(text: str, keywords: list[str]) -> bool:
    t = text.lower()
    return any(k in t for k in keywords)


def fluent(ids) -> bool:
    ids = list(ids)
    if len(ids) < 4:
        return True
    if Counter(ids).most_common(1)[0][1] > 0.4 * len(ids):
        return False
    return not any(ids[i] == ids[i + 1] == ids[i + 2] == ids[i + 3] for i in range(len(ids) - 3))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sae", default=None)
    ap.add_argument("--out", default="work_data/demo_features_single.json")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--max-new", type=int, default=32)
    ap.add_argument("--strengths", default="3,5,8")
    ap.add_argument("--concepts", default="golden_gate,code,bugs,secrets,scam,religion,food,music")
    ap.add_argument("--pick", action="append", default=[], metavar="CONCEPT=F@S",
                    help="measure feature F at strength S (x max) for CONCEPT instead of piloting (hand-picked)")
    ap.add_argument("--merge", action="store_true", help="keep the other concepts already in --out")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.engine.sampling import SamplingConfig
    from desktop_sae.core.engine.session import Session
    from desktop_sae.core.features.dictionary import FeatureDictionary
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.steering.specs import NO_STEERING, SteeringConfig, SteerSpec
    from desktop_sae.core.support.atomic import atomic_write_text
    from desktop_sae.core.support.paths import default_sae_dir

    sae_dir = Path(a.sae or default_sae_dir())
    session = Session(load_model(), load_sae(sae_dir))
    dic = FeatureDictionary.load(sae_dir) if FeatureDictionary.exists(sae_dir) else None

    def mean_acts(texts):
        rows = []
        for t in texts:
            _, ids, acts = session.encode_text(t)
            keep = [i for i, tid in enumerate(ids) if tid not in session.special_ids]
            rows.append(acts[keep].mean(0))
        return np.mean(rows, 0)

    neutral = mean_acts(NEUTRAL)
    sampling = lambda seed: SamplingConfig(seed=seed, max_new_tokens=a.max_new)  # noqa: E731
    default_cache: dict = {}
    default_nll: dict = {}

    def default(prompt, seed):
        if (prompt, seed) not in default_cache:
            default_cache[(prompt, seed)] = session.generate(prompt, sampling(seed), NO_STEERING)
        return default_cache[(prompt, seed)]

    def fires(text, f):
        """Does feature f fire (> 20 % of its max) when the answer is re-read without steering?"""
        if not text.strip():
            return False
        _, ids, acts = session.encode_text(text)
        keep = [i for i, tid in enumerate(ids) if tid not in session.special_ids]
        return bool(len(keep)) and float(acts[keep, f].max()) > 0.2 * float(session.sae.stats.max_activation[f])

    @torch.inference_mode()
    def answer_nll(prompt, answer_ids):
        """Mean per-token negative log-likelihood of an answer under the unsteered model, given the prompt: a
        fluency figure that also catches word salad without loops (the loop check alone does not)."""
        ids = list(answer_ids)
        if not ids:
            return float("nan")
        p = session.prompt_ids(prompt)
        x = torch.tensor([p + ids], device=session.lm.device)
        logp = torch.log_softmax(session.lm.model(input_ids=x).logits[0, len(p) - 1 : -1].float(), -1)
        return float(-logp.gather(1, x[0, len(p):, None]).mean())

    W_U = session.lm.model.get_output_embeddings().weight.detach().float()
    W_dec = session.sae.W_dec.detach().float().to(W_U.device)
    max_act = np.maximum(session.sae.stats.max_activation, 1e-6)

    def output_scores(words):
        """Per feature: mean z-score (over the vocabulary) of the logits its decoder direction adds to ``words``."""
        enc = session.lm.tokenizer.encode
        ids = sorted({t for w in words for v in (w, " " + w) for t in enc(v, add_special_tokens=False)[:1]})
        z = []
        for chunk in torch.split(W_dec, 512):
            lg = chunk @ W_U.T  # [chunk, vocab]
            z.append(((lg[:, ids] - lg.mean(1, keepdim=True)) / lg.std(1, keepdim=True)).mean(1))
        return torch.cat(z).cpu().numpy()

    def mean_resid(texts):
        rows = []
        for t in texts:
            ids = session.prompt_ids(t, chat=False)
            x = session.activations(ids).float()
            rows.append(x[[i for i, tid in enumerate(ids) if tid not in session.special_ids]].mean(0))
        return torch.stack(rows).mean(0)

    neutral_resid = mean_resid(NEUTRAL)

    def candidates(c, act_diff):
        """Input features (fire on the concept's sentences), output features (promote its words: steering works
        best with these, Arad et al. 2025) and features whose decoder direction is closest to the concept's
        mean-difference direction in the residual stream; take the top of each list and of input + output."""
        inp = act_diff / max_act
        out = output_scores(c["output_words"])
        direction = torch.nn.functional.normalize(mean_resid(c["texts"]) - neutral_resid, dim=0)
        cos = (torch.nn.functional.normalize(W_dec, dim=1) @ direction.to(W_dec)).cpu().numpy()
        z = lambda v: (v - v.mean()) / (v.std() + 1e-9)  # noqa: E731
        both = z(inp) + z(out)
        picks = []
        for order, n in ((np.argsort(-inp), 2), (np.argsort(-both), 2), (np.argsort(-out), 1), (np.argsort(-cos), 1)):
            picks += [int(f) for f in order[:n] if int(f) not in picks]
        return picks

    picks = {k: tuple(map(float, v.split("@"))) for k, v in (x.split("=") for x in a.pick)}
    results, t0 = [], time.time()
    if a.merge and Path(a.out).exists():
        measured = set(a.concepts.split(","))
        results = [r for r in json.loads(Path(a.out).read_text())["concepts"] if r["concept"] not in measured]
    strengths = [float(s) for s in a.strengths.split(",")]
    for name in a.concepts.split(","):
        c = CONCEPTS[name]
        cands = candidates(c, mean_acts(c["texts"]) - neutral)

        def pilot(f, s, n, c=c):
            """Score of n pilot answers (prompts 0-2, seeds 100+, never measured): on concept and fluent, plus a
            tenth for each answer that makes the feature fire."""
            st = SteeringConfig(features=(SteerSpec(f, s, unit="max", method="add"),))
            outs = [session.generate(PROMPTS[i % 3], sampling(100 + i), st) for i in range(n)]
            return (sum(on_concept(o.text, c["keywords"]) * fluent(o.answer_ids) for o in outs)
                    + 0.1 * sum(fires(o.text, f) for o in outs))

        if name in picks:  # hand-picked after exploring the dictionary: no pilot
            best = (None, int(picks[name][0]), picks[name][1])
        else:
            mid = strengths[len(strengths) // 2]
            # stage 1: every candidate at the middle strength
            first = sorted(cands, key=lambda f: -pilot(f, mid, 3))[:2]
            best = max(((pilot(f, s, 4), -i, -s, f, s) for i, f in enumerate(first) for s in strengths))  # stage 2
            best = (best[0], best[3], best[4])
        _, f, s = best
        st = SteeringConfig(features=(SteerSpec(f, s, unit="max", method="add"),))
        n = steered_on = default_on = flu = steered_fire = default_fire = 0
        examples, nll_s, nll_d = [], [], []
        for p in PROMPTS:
            for seed in range(a.seeds):
                r = session.generate(p, sampling(seed), st)
                d = default(p, seed)
                n += 1
                steered_on += on_concept(r.text, c["keywords"])
                default_on += on_concept(d.text, c["keywords"])
                flu += fluent(r.answer_ids)
                steered_fire += fires(r.text, f)
                default_fire += fires(d.text, f)
                nll_s.append(answer_nll(p, r.answer_ids))
                if (p, seed) not in default_nll:  # the default answers are the same for every concept
                    default_nll[(p, seed)] = answer_nll(p, d.answer_ids)
                nll_d.append(default_nll[(p, seed)])
                if seed == 0:
                    examples.append({"prompt": p, "steered": r.text, "default": d.text})
        rec = {"concept": name, "label": c["label"], "description": c["description"],
               "feature": f, "candidates": cands,
               "selected_by": "hand" if name in picks else "pilot",
               "dictionary_label": dic.labels[f] if dic else None, "method": "add", "unit": "max", "strength": s,
               "strength_raw": float(s * session.sae.stats.max_activation[f]), "n_answers": n,
               "steered_on_concept": steered_on / n, "default_on_concept": default_on / n, "steered_fluent": flu / n,
               "steered_feature_fires": steered_fire / n, "default_feature_fires": default_fire / n,
               "steered_nll": float(np.nanmean(nll_s)), "default_nll": float(np.nanmean(nll_d)),
               "steered_perplexity_ratio": float(np.exp(np.nanmean(nll_s) - np.nanmean(nll_d))),
               "steering_works": steered_on - default_on >= 0.3 * n and flu / n >= 0.7,
               "feature_effect": steered_fire - default_fire >= 0.3 * n,
               "keywords": c["keywords"], "examples": examples}
        results.append(rec)
        print(f"{name:12s} f{f:5d} x{s:g}max  on-concept {steered_on}/{n} vs default {default_on}/{n}  "
              f"fires {steered_fire}/{n} vs {default_fire}/{n}  fluent {flu}/{n}  "
              f"ppl x{rec['steered_perplexity_ratio']:.1f}  ({time.time() - t0:.0f}s)", file=sys.stderr, flush=True)
        doc = {"sae": str(sae_dir.name), "hook": session.hook_name,
               "method": {"seeds": a.seeds, "prompts": PROMPTS, "max_new_tokens": a.max_new,
                          "sampling": "temperature 0.5, frequency penalty 1.0 (SamplingConfig defaults)",
                          "on_concept": "answer contains one of the concept's keywords (case-insensitive)",
                          "feature_fires": "the answer, re-read without steering, activates the feature above 20% of "
                                           "its max activation",
                          "steering_works": "steered - default share >= 0.3 on keywords, and >= 70% fluent",
                          "feature_effect": "steered - default share >= 0.3 on feature_fires (the text moved toward "
                                            "what the feature reads, not necessarily toward the concept's words)",
                          "fluent": "no token is more than 40% of the answer and no run of 4 identical tokens",
                          "steered_nll": "mean per-token negative log-likelihood (nats) of the steered answers under "
                                         "the unsteered model given the prompt; default_nll the same for the default "
                                         "answers; steered_perplexity_ratio = exp(steered_nll - default_nll): how much "
                                         "less expected (less fluent or further off the model's usual text) the "
                                         "steered answers are",
                          "default": "same prompt and seed without steering",
                          "description": "what the concept is about, in words: the prompting baseline's "
                                         "system prompt is \"Talk about <description>.\" (desktop-sae eval-steering)",
                          "selected_by": "pilot: feature and strength chosen by the pilot described under selection; "
                                         "hand: chosen after exploring the dictionary (labels, activation on the "
                                         "concept's sentences and on the "
                                         "model's own answers on the concept) and short steering probes on seeds 200+ "
                                         "(never measured), given with --pick and measured the same way",
                          "selection": "candidates: top 2 by input score, top 2 by z(input score) + z(output "
                                       "score), top 1 by output score, top 1 by cosine of the decoder direction with "
                                       "the concept's mean-difference residual direction (concept sentences - neutral "
                                       "ones); input score = (mean activation on concept sentences - on neutral ones) "
                                       "/ max activation, output score = mean vocabulary z-score of the logits the "
                                       "decoder direction adds to the concept's output_words. Pilot on answers never "
                                       "measured (seeds 100+): stage 1 scores every candidate at the middle strength "
                                       "on 3 answers, stage 2 the best 2 at every strength in " + a.strengths +
                                       " (x max activation, additive) on 4 answers; score = answers on concept and "
                                       "fluent + 0.1 x answers that make the feature fire; ties: earlier candidate, "
                                       "weaker strength"},
               "concepts": results}
        try:  # keep what other tools recorded there (eval-steering --fix-code --record: "code_fix")
            old = json.loads(Path(a.out).read_text(encoding="utf-8"))
            doc.update({k: v for k, v in old.items() if k not in doc} if isinstance(old, dict) else {})
        except (OSError, ValueError):
            pass
        atomic_write_text(Path(a.out), json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
