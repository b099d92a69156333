"""Does a steering set exported as a llama.cpp control vector steer llama.cpp as it steers the app?

For each demo concept (resources/demo_features.json) the app's steering rows are exported with
``core.interop.steering_export`` to a control-vector GGUF. Then, on the same bundled SmolLM2-135M-Instruct GGUF and
from the same prompt token ids (the app's chat template):

- logit shift: the change of the next-token log-probabilities at the end of the prompt that the steering causes,
  in the app (steering every position, as llama.cpp does) and in llama.cpp with the vector at its layer N, and at
  N - 1 and N + 1 as controls for the layer mapping; Pearson correlation over the vocabulary, per prompt;
- text: answers (greedy, and sampled with a few seeds) with and without the steering in both, and the share that
  name one of the concept's keywords (``core.steer_eval.scoring.keyword_pattern``), for the app as it steers
  (special tokens unsteered) and for llama.cpp.

llama.cpp runs in its own environment (llama-cpp-python built from source) through ``llamacpp_worker.py``, which
loads the file with a port of llama.cpp's own loader on llama.cpp's GGUF parser (packaging/interop/README.md).

  PYTHONPATH=. .venv/bin/python packaging/interop/check_llamacpp_control_vector.py \\
      --llama-python /tmp/llamacpp-venv/bin/python --json docs/results/interop/llamacpp_control_vector.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("llamacpp_worker.py")
DEFAULT_CONCEPTS = ("music", "religion", "food")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--llama-python", default="/tmp/llamacpp-venv/bin/python",
                   help="python of the environment with llama-cpp-python")
    p.add_argument("--concepts", default=",".join(DEFAULT_CONCEPTS), help="demo concepts, comma-separated")
    p.add_argument("--prompts", type=int, default=10, help="how many report-split prompts")
    p.add_argument("--logit-prompts", type=int, default=5, help="how many of them for the logit-shift check")
    p.add_argument("--seeds", type=int, default=2, help="sampled answers per prompt, besides the greedy one")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--max-new-tokens", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="write the results file here")
    return p.parse_args(argv)


def run_llamacpp(python: str, request: dict) -> dict:
    done = subprocess.run([python, str(WORKER)], input=json.dumps(request), capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"llama.cpp worker failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def app_logprobs(session, ids: list[int], steering) -> np.ndarray:
    from desktop_sae.core.steer_eval.reading import _log_probs  # the app's own steered forward pass

    with torch.inference_mode():
        return _log_probs(session, ids, steering, keep=1)[-1].double().cpu().numpy()


def summary(concepts: dict[str, dict], answers: int, temperature: float, seconds: float) -> dict[str, float]:
    """The values the docs quote, each named by what it is and its statistic."""
    out: dict[str, float] = {"answers_per_condition": answers, "sampled_temperature": temperature,
                             "seconds_total": seconds}
    for c, r in concepts.items():
        for engine, rates in r["keyword_rate"].items():
            for cond, v in rates.items():
                out[f"{c}_keyword_share_{engine}_{cond}"] = v
        for shift, layer in (("-1", r["llamacpp_layer"] - 1), ("0", r["llamacpp_layer"]),
                             ("+1", r["llamacpp_layer"] + 1)):
            out[f"{c}_logit_shift_corr_median_layer{layer}"] = r["logit_shift_correlation_median"][shift]
        out[f"{c}_logit_shift_rel_err_median"] = r["logit_shift_relative_error_median"]
    at = [r["logit_shift_correlation_median"]["0"] for r in concepts.values()]
    off = [r["logit_shift_correlation_median"][k] for r in concepts.values() for k in ("-1", "+1")]
    err = [r["logit_shift_relative_error_median"] for r in concepts.values()]
    out.update({"logit_shift_corr_median_at_layer_min": min(at), "logit_shift_corr_median_at_layer_max": max(at),
                "logit_shift_corr_median_one_layer_off_min": min(off),
                "logit_shift_corr_median_one_layer_off_max": max(off),
                "logit_shift_rel_err_median_min": min(err), "logit_shift_rel_err_median_max": max(err)})
    return out


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    from dataclasses import replace

    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.engine.model_cache import bundled_gguf_path
    from desktop_sae.core.engine.sampling import SamplingConfig
    from desktop_sae.core.interop.steering_export import build_export, write_export
    from desktop_sae.core.presets.demo_concepts import load_demo_concepts
    from desktop_sae.core.presets.identity import sae_identity
    from desktop_sae.core.steer_eval.scoring import keyword_hits, keyword_pattern
    from desktop_sae.core.steering.specs import NO_STEERING, SteeringConfig
    from desktop_sae.core.support.prompt_file import read_prompts
    from desktop_sae.core.support.results_file import load_average, write_results

    load_before, t0 = load_average(), time.time()
    torch.set_num_threads(a.threads)
    session = open_session(None, None, None, device="cpu", dtype="float32")
    assert session.sae is not None and session.hook_name is not None
    demo = load_demo_concepts() or {}
    concepts = [c.strip() for c in a.concepts.split(",") if c.strip()]
    missing = [c for c in concepts if c not in demo]
    if missing:
        raise SystemExit(f"unknown demo concepts: {missing} (known: {sorted(demo)})")
    prompts = read_prompts(ROOT / "resources/steer_eval/report_prompts.txt")[:a.prompts]
    prompt_ids = [session.prompt_ids(p) for p in prompts]
    stop_ids = list(session.stop_ids)
    runs = [("greedy", 0.0, 0)] + [(f"seed {s}", a.temperature, s) for s in range(a.seeds)]
    tok = session.lm.tokenizer
    ident = sae_identity(session.sae, session.hook_name)
    tmp = Path(tempfile.mkdtemp(prefix="cvec-check-"))
    model_path = str(bundled_gguf_path())

    steerings, exports = {}, {}
    for c in concepts:
        steerings[c] = SteeringConfig(demo[c].rows())  # as the app steers: special tokens unsteered
        exports[c] = build_export(steerings[c], session.sae, hook=session.hook_name, model=session.lm.name,
                                  identity=ident, name=c)
        write_export(exports[c], tmp / f"{c}.gguf")

    # --- llama.cpp: every task in one worker run ---------------------------------------------------------------
    tasks = []
    for i, ids in enumerate(prompt_ids):
        for cv in [None, *concepts]:
            for name, temp, seed in runs:
                tasks.append({"id": f"gen|{cv}|{i}|{name}", "cvec": None if cv is None else str(tmp / f"{cv}.gguf"),
                              "prompt_ids": ids, "kind": "generate", "max_tokens": a.max_new_tokens,
                              "temperature": temp, "seed": seed, "stop_ids": stop_ids})
        if i < a.logit_prompts:
            tasks.append({"id": f"logits|None|{i}|0", "cvec": None, "prompt_ids": ids, "kind": "logits",
                          "logits_out": str(tmp / f"base-{i}.npy")})
            for c in concepts:
                for shift in (-1, 0, 1):
                    tasks.append({"id": f"logits|{c}|{i}|{shift}", "cvec": str(tmp / f"{c}.gguf"), "shift": shift,
                                  "prompt_ids": ids, "kind": "logits", "logits_out": str(tmp / f"{c}-{i}-{shift}.npy")})
    t_llama = time.time()
    answer = run_llamacpp(a.llama_python, {"model": model_path, "n_threads": a.threads, "tasks": tasks})
    llama_seconds = time.time() - t_llama
    by_id = {r["id"]: r for r in answer["results"]}

    # --- the app: the same prompts, settings and steering --------------------------------------------------------
    def app_answer(ids: list[int], steering, temp: float, seed: int) -> str:
        s = SamplingConfig(temperature=temp, top_p=1.0, top_k=0, frequency_penalty=0.0, repetition_penalty=1.0,
                           seed=seed, max_new_tokens=a.max_new_tokens)
        return session.generate("", s, steering, prompt_ids=ids).text

    def llama_text(cv: str | None, i: int, name: str) -> str:
        return tok.decode(by_id[f"gen|{cv}|{i}|{name}"]["answer_ids"], skip_special_tokens=True)

    t_app = time.time()
    app_texts: dict[str | None, list[str]] = {}
    llama_texts: dict[str | None, list[str]] = {}
    for cv in [None, *concepts]:
        st = NO_STEERING if cv is None else steerings[cv]
        app_texts[cv] = [app_answer(ids, st, temp, seed) for ids in prompt_ids for _n, temp, seed in runs]
        llama_texts[cv] = [llama_text(cv, i, n) for i in range(len(prompt_ids)) for n, _t, _s in runs]
    app_seconds = time.time() - t_app

    def rate(texts: list[str], pattern) -> float:
        return sum(1 for t in texts if keyword_hits(t, pattern)) / len(texts)

    out_concepts = {}
    for c in concepts:
        pat = keyword_pattern(demo[c].keywords)
        corr: dict[str, list[float]] = {"-1": [], "0": [], "+1": []}
        rel_err: list[float] = []
        every_position = replace(steerings[c], skip_special=False)
        for i in range(min(a.logit_prompts, len(prompt_ids))):
            d_app = app_logprobs(session, prompt_ids[i], every_position) - app_logprobs(session, prompt_ids[i], None)
            base = log_softmax(np.load(tmp / f"base-{i}.npy"))
            for shift, key in ((-1, "-1"), (0, "0"), (1, "+1")):
                d_llama = log_softmax(np.load(tmp / f"{c}-{i}-{shift}.npy")) - base
                corr[key].append(float(np.corrcoef(d_app, d_llama)[0, 1]))
                if shift == 0:
                    rel_err.append(float(np.linalg.norm(d_llama - d_app) / np.linalg.norm(d_app)))
        e = exports[c]
        out_concepts[c] = {
            "rows": len(e.rows), "hook": e.hook, "llamacpp_layer": e.layer,
            "vector_norm": float(np.linalg.norm(e.direction.astype(np.float64))), "keywords": list(demo[c].keywords),
            "keyword_rate": {
                "llamacpp": {"steered": rate(llama_texts[c], pat), "unsteered": rate(llama_texts[None], pat)},
                "app": {"steered": rate(app_texts[c], pat), "unsteered": rate(app_texts[None], pat)},
            },
            "logit_shift_correlation_median": {k: float(np.median(v)) for k, v in corr.items()},
            "logit_shift_correlation_min_at_layer": float(min(corr["0"])),
            "logit_shift_relative_error_median": float(np.median(rel_err)),
            "examples": {"llamacpp_steered": llama_texts[c][0], "app_steered": app_texts[c][0],
                         "llamacpp_unsteered": llama_texts[None][0], "app_unsteered": app_texts[None][0]},
        }
    n = len(prompt_ids) * len(runs)
    data = {
        "what": "a demo concept's steering exported as a llama.cpp control vector (direction.N at the app's hook "
                "blocks.N.hook_resid_post) and applied in llama.cpp, against the same steering in the app",
        "statistics": {"keyword_rate": "share of answers naming at least one concept keyword",
                       "logit_shift_correlation_median": "median over prompts of the Pearson correlation over the "
                       "vocabulary of the steered-minus-unsteered next-token log-probabilities, app vs llama.cpp "
                       "with the vector at the mapped layer (0) and one layer off (-1, +1)",
                       "logit_shift_relative_error_median": "median over prompts of |d_llama - d_app| / |d_app|"},
        "settings": {"model": "bundled SmolLM2-135M-Instruct Q4_1 GGUF (the app reads it dequantised, float32)",
                     "prompts": len(prompts), "prompt_file": "resources/steer_eval/report_prompts.txt",
                     "logit_prompts": min(a.logit_prompts, len(prompts)),
                     "runs": [{"name": r[0], "temperature": r[1], "seed": r[2]} for r in runs],
                     "answers_per_condition": n, "max_new_tokens": a.max_new_tokens, "top_p": 1.0, "top_k": 0,
                     "frequency_penalty": 0.0, "threads": a.threads,
                     "app_steering": "the concept's rows, special tokens unsteered (the app's default); the logit "
                                     "check steers every position, as llama.cpp does",
                     "llamacpp_layer_range": [1, answer["n_layer"]]},
        "llama_cpp": {"llama_cpp_python": answer["llama_cpp_version"], "n_layer": answer["n_layer"],
                      "loader": "port of common_control_vector_load on libggml-base's gguf_* (llamacpp_worker.py)",
                      "apply": "llama_set_adapter_cvec"},
        "seconds": {"llamacpp": round(llama_seconds, 1), "app": round(app_seconds, 1),
                    "total": round(time.time() - t0, 1)},
        "concepts": out_concepts,
    }
    data["summary"] = summary(out_concepts, n, a.temperature, data["seconds"]["total"])
    for c, r in out_concepts.items():
        k = r["keyword_rate"]
        print(f"{c:9s} layer {r['llamacpp_layer']}  llama.cpp {k['llamacpp']['unsteered']:.2f} -> "
              f"{k['llamacpp']['steered']:.2f}   app {k['app']['unsteered']:.2f} -> {k['app']['steered']:.2f}   "
              f"logit-shift corr {r['logit_shift_correlation_median']}")
    if a.json:
        write_results(a.json, data, load_before=load_before,
                      command=["python", "packaging/interop/check_llamacpp_control_vector.py", *(argv or sys.argv[1:])])
        print(f"wrote {a.json}")
    ok = all(r["keyword_rate"]["llamacpp"]["steered"] > r["keyword_rate"]["llamacpp"]["unsteered"]
             for r in out_concepts.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
