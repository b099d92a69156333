"""Benchmark: the lite engine (core/engine/lite/llama.py) against transformers, in one run so the ratios are fair.

(a) start-up: fresh processes alternate between DESKTOP_SAE_ENGINE=auto (lite) and =transformers and time the
    imports ``load_model()`` needs, ``load_model()`` itself (warm cache, default dtype), and the whole way to a
    first generated token with the bundled SAE attached;
(b) batch-1 greedy decoding through ``Session.generate`` (64 tokens, EOS ignored), lite vs transformers, per
    dtype, plain / with the bundled SAE / with the SAE and 3 additive steered features, plus transformers'
    own ``generate()`` in float32. Configurations are interleaved; medians are reported.

  python tests/bench/bench_lite.py --repeats 5 --loads 7

writes docs/results/bench/lite_vs_transformers.json (``--json`` elsewhere; ``--smoke``: a few seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import _bench

DEFAULT = _bench.RESULTS / "lite_vs_transformers.json"
LOAD_CODE = (
    "import time, sys; t=time.perf_counter()\n"
    "import torch; t0=time.perf_counter()\n"
    "from desktop_sae.core.engine.models import load_model\n"
    "t1=time.perf_counter(); lm=load_model(); t2=time.perf_counter()\n"
    "from desktop_sae.core.engine.sampling import SamplingConfig\n"
    "from desktop_sae.core.support.paths import default_sae_dir\n"
    "from desktop_sae.core.sae.formats import load_sae\n"
    "from desktop_sae.core.engine.session import Session\n"
    "s = Session(lm); s.attach_sae(load_sae(default_sae_dir()))\n"
    "s.generate('Hi', SamplingConfig(max_new_tokens=1)); t3=time.perf_counter()\n"
    "import json; print(json.dumps({'torch_s': t0-t, 'import_s': t1-t, 'load_s': t2-t1, 'total_s': t2-t,\n"
    "  'first_token_s': t3-t, 'model': type(lm.model).__name__, 'transformers': 'transformers' in sys.modules}))\n"
)


def load_times(n: int) -> dict:
    rows: dict[str, list[dict]] = {"lite": [], "transformers": []}
    for _ in range(n):
        for engine in rows:
            env = {**os.environ, "DESKTOP_SAE_ENGINE": "auto" if engine == "lite" else "transformers"}
            out = subprocess.run([sys.executable, "-c", LOAD_CODE], env=env, capture_output=True, text=True, check=True)
            rows[engine].append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = ("torch_s", "import_s", "load_s", "total_s", "first_token_s")
    med = {e: {k: statistics.median(r[k] for r in rs) for k in keys} for e, rs in rows.items()}
    return {"median": med, "runs": rows}


def decode_rates(n_tokens: int, repeats: int, dtypes: list[str]) -> dict:
    import torch

    from desktop_sae.core.engine import models
    from desktop_sae.core.engine.sampling import SamplingConfig
    from desktop_sae.core.engine.session import Session
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
    from desktop_sae.core.support.paths import default_sae_dir

    sc = SamplingConfig(temperature=0, frequency_penalty=0.0, max_new_tokens=n_tokens)
    add3 = SteeringConfig(tuple(SteerSpec(f, 4.0) for f in (11, 222, 3333)))
    prompt = "Write a long story about a lighthouse keeper who finds a message in a bottle."
    configs, answers = {}, {}
    for engine in ("lite", "transformers"):
        os.environ["DESKTOP_SAE_ENGINE"] = "auto" if engine == "lite" else "transformers"
        for dt in dtypes:
            lm = models.load_model(dtype=dt)
            plain, with_sae = Session(lm), Session(lm)
            with_sae.attach_sae(load_sae(default_sae_dir()))  # one SAE per session: attach_sae casts it in place
            ids = plain.prompt_ids(prompt)
            # stop_ids cleared: always n_tokens new tokens
            plain.stop_ids = with_sae.stop_ids = ()

            def run(s, steer, key, ids=ids):
                t = time.perf_counter()
                res = s.generate(None, sc, steer, prompt_ids=ids)
                answers.setdefault(key, res.answer_ids)
                return len(res.answer_ids) / (time.perf_counter() - t)

            for name, s, steer in (
                ("plain", plain, SteeringConfig()),
                ("SAE", with_sae, SteeringConfig()),
                ("SAE+3 add", with_sae, add3),
            ):
                key = f"{engine} {dt} {name}"
                configs[key] = lambda s=s, steer=steer, key=key: run(s, steer, key)
            if engine == "transformers" and dt == "float32":
                hf = lm.model

                def hf_generate(hf=hf, ids=ids):
                    t = time.perf_counter()
                    out = hf.generate(
                        input_ids=torch.tensor([ids]),
                        max_new_tokens=n_tokens,
                        min_new_tokens=n_tokens,
                        do_sample=False,
                        pad_token_id=0,
                    )
                    return (out.shape[1] - len(ids)) / (time.perf_counter() - t)

                configs["transformers generate() float32"] = hf_generate
    for fn in configs.values():  # warm-up
        fn()
    rates = {k: [] for k in configs}
    for r in range(repeats):
        for k, fn in configs.items():
            rates[k].append(fn())
        print(f"  repeat {r + 1}/{repeats}", flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    same = {
        f"{dt} {name}": answers[f"lite {dt} {name}"] == answers[f"transformers {dt} {name}"]
        for dt in dtypes
        for name in ("plain", "SAE", "SAE+3 add")
    }
    return {"median_tok_s": med, "all": rates, "same_tokens_as_transformers": same}


def summarise(result: dict) -> dict:
    """Medians the docs quote: start-up of each engine, and decoding tok/s with the lite/transformers ratios."""
    out: dict = {"statistic": "medians over the fresh processes (start-up) and over the repeats (decoding)"}
    if "load" in result:
        for e, m in result["load"]["median"].items():
            out[f"{e}_first_token_s_median"] = round(m["first_token_s"], 2)
            out[f"{e}_load_model_s_median"] = round(m["load_s"], 2)
            out[f"{e}_imports_s_median"] = round(m["import_s"], 2)
            out[f"{e}_torch_import_s_median"] = round(m["torch_s"], 2)
        out["loads"] = len(result["load"]["runs"]["lite"])
    if "decode" in result:
        med = result["decode"]["median_tok_s"]
        out["tok_s_median"] = {k: round(v, 1) for k, v in med.items()}
        ratios = {k[5:]: v / med["transformers" + k[4:]] for k, v in med.items() if k.startswith("lite ")}
        out["lite_vs_transformers_median"] = {k: round(v, 2) for k, v in ratios.items()}
        for dt in {k.split()[0] for k in ratios}:
            r = [v for k, v in ratios.items() if k.startswith(dt)]
            out[f"lite_vs_transformers_{dt}_min"], out[f"lite_vs_transformers_{dt}_max"] = round(min(r), 2), round(
                max(r), 2)
        out["same_tokens_as_transformers"] = f"{sum(result['decode']['same_tokens_as_transformers'].values())}/" \
                                             f"{len(result['decode']['same_tokens_as_transformers'])}"
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--loads", type=int, default=7)
    ap.add_argument("--dtypes", default="bfloat16,float32")
    _bench.add_args(ap, DEFAULT)
    a = ap.parse_args()
    load_before = _bench.start()
    if a.smoke:
        a.tokens, a.repeats, a.loads, a.dtypes = 4, 1, 1, "bfloat16"
    result: dict = {"tokens": a.tokens, "repeats": a.repeats, "dtypes": a.dtypes.split(",")}
    if a.loads:
        result["load"] = load_times(a.loads)
        for e, m in result["load"]["median"].items():
            print(
                f"{e:13s} imports {m['import_s']:.2f} s (torch {m['torch_s']:.2f}), load_model {m['load_s']:.2f} s, "
                f"total {m['total_s']:.2f} s; + SAE + first token: {m['first_token_s']:.2f} s"
            )
    if a.repeats:
        result["decode"] = d = decode_rates(a.tokens, a.repeats, a.dtypes.split(","))
        med = d["median_tok_s"]
        for k, v in med.items():
            other = k.replace("lite", "transformers") if k.startswith("lite") else None
            ratio = f"  x{v / med[other]:.2f} vs transformers" if other in med else ""
            print(f"{k:34s} {v:6.1f} tok/s{ratio}")
        print("same greedy tokens as transformers:", d["same_tokens_as_transformers"])
    _bench.write(a, DEFAULT, summarise(result), result, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
