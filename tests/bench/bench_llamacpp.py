"""The engine against llama.cpp on the bundled GGUF, batch 1, in one run with rounds interleaved.

llama.cpp's own ``llama-bench`` (``-p 0 -n N -d P``: N tokens decoded after P tokens of context, the ``-t`` threads
this run uses) decodes the bundled SmolLM2-135M-Instruct Q4_1 GGUF; the engine decodes N tokens greedily after the
bench prompt (P tokens) in each configuration below, on the same threads. Each round runs llama-bench once and
every engine configuration once, the order turned around every other round, so a change in the machine's load falls
on all of them alike. The engine's tok/s is decoding only, as llama-bench's: the intervals between its generated
tokens' events (each a whole model step with the SAE, steering and sampling), not the prompt.

Configurations: ``int4`` (the 4-bit path: the GGUF's Q4_1 codes on torch's int4 kernel, the lm_head in 8-bit
groups), ``int8`` and ``bfloat16``, each with the bundled SAE encoding every token and 3 features steered (add),
and ``int4`` plain. The summary has each one's median tok/s and its ratio to llama-bench (the median of the
per-round ratios, each round's figures kept), and, from ``torch.profiler`` over one more run of each, the operator
calls per token and where the profiled time goes, and for each weight format one pass of its single-row products
over every weight a step reads (the time a step would take with nothing else).

llama-bench is found (``--llama-bench``, ``$LLAMA_BENCH``, ``llama-bench`` on the PATH, or a copy built earlier in
the cache) or built: llama-cpp-python's source distribution vendors llama.cpp; it is downloaded from PyPI with
``pip download --no-binary`` and only its ``llama-bench`` target is built with cmake (a C++ compiler is needed; a
few minutes on 2 cores). It is a benchmark tool, never a dependency of the app.

  python tests/bench/bench_llamacpp.py [--rounds 5] [--tokens 64] [--threads 2]

writes docs/results/bench/llamacpp.json (``--json`` elsewhere). ``--smoke``: the engine's configurations only, 4
tokens, 1 round (CI has no llama-bench; the llama.cpp legs are reported as not run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _bench
import torch

DEFAULT = _bench.RESULTS / "llamacpp.json"
LLAMA_CPP_PYTHON = "0.3.36"  # the llama-cpp-python release whose vendored llama.cpp is built
STEERED = (11, 222, 3333)
CONFIGS = {"int4 + SAE + 3 steered": ("int4", True), "int4": ("int4", False),
           "int8 + SAE + 3 steered": ("int8", True), "bfloat16 + SAE + 3 steered": ("bfloat16", True)}
GOAL = "int4 + SAE + 3 steered"


def _cache() -> Path:
    from desktop_sae.core.support.paths import cache_dir

    return cache_dir() / "bench" / f"llama-bench-{LLAMA_CPP_PYTHON}"


def build_llama_bench(dest: Path) -> Path:
    """Download llama-cpp-python's sdist and build llama.cpp's llama-bench (static) into ``dest``."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", tmp,
                        f"llama-cpp-python=={LLAMA_CPP_PYTHON}"], check=True)
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        src = next(Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp"))
        build = Path(tmp) / "build"
        subprocess.run(["cmake", "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                        "-DBUILD_SHARED_LIBS=OFF", "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
                        "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF"],
                       check=True)
        subprocess.run(["cmake", "--build", str(build), "--target", "llama-bench", "-j", str(os.cpu_count() or 2)],
                       check=True)
        dest.mkdir(parents=True, exist_ok=True)
        out = dest / "llama-bench"
        shutil.copy2(build / "bin" / "llama-bench", out)
    return out


def find_llama_bench(given: str | None) -> Path:
    for cand in (given, os.environ.get("LLAMA_BENCH"), shutil.which("llama-bench"), str(_cache() / "llama-bench")):
        if cand and Path(cand).is_file():
            return Path(cand)
    print(f"building llama-bench from llama-cpp-python {LLAMA_CPP_PYTHON}'s sources ...", flush=True)
    return build_llama_bench(_cache())


def llama_bench_run(exe: Path, gguf: Path, threads: int, tokens: int, depth: int) -> dict[str, Any]:
    """One llama-bench run: its decoding tok/s and what it reported about itself."""
    out = subprocess.run([str(exe), "-m", str(gguf), "-t", str(threads), "-p", "0", "-n", str(tokens),
                          "-d", str(depth), "-r", "1", "-o", "json"], capture_output=True, text=True, check=True)
    row = json.loads(out.stdout)[0]
    return {"tok_s": float(row["avg_ts"]), "build_commit": row.get("build_commit"),
            "model_type": row.get("model_type"), "n_threads": row.get("n_threads")}


def products_pass_ms(model: Any, passes: int = 7) -> float:
    """Median ms of one pass of single-row products over every weight a decoding step reads, on the kernels the
    engine installed (row_setup's timing): what a step would cost with nothing but its products."""
    from desktop_sae.core.engine.lite.row_setup import _time_pass, row_weights

    rows = [mod.row for mod, _ in row_weights(model)]
    xs = {r.weight.shape[1]: torch.randn(1, r.weight.shape[1]).to(r.weight.dtype) for r in rows}
    _time_pass(rows, xs)
    return 1000 * statistics.median(_time_pass(rows, xs) for _ in range(passes))


def engine_runner(dtype: str, with_sae: bool, tokens: int) -> tuple[Callable[[], float], list[int]]:
    """A function decoding ``tokens`` tokens (returns tok/s of decoding) and the prompt's token ids."""
    from desktop_sae.core.engine.benchmark import PROMPT
    from desktop_sae.core.engine.generation import generate_tokens
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.engine.sae_tap import SAETap
    from desktop_sae.core.engine.sampling import SamplingConfig
    from desktop_sae.core.engine.session import Session
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
    from desktop_sae.core.support.paths import default_sae_dir

    lm = load_model(device="cpu", dtype=dtype)
    sae_dir = default_sae_dir()
    assert sae_dir is not None, "the benchmark needs the bundled SAE"
    session = Session(lm, load_sae(sae_dir)) if with_sae else Session(lm)
    steering = SteeringConfig(tuple(SteerSpec(f, 4.0) for f in STEERED)) if with_sae else SteeringConfig()
    ids = lm.tokenizer.encode(PROMPT)
    sampling = SamplingConfig(temperature=0, frequency_penalty=0.0, max_new_tokens=tokens)

    def run() -> float:
        stamps: list[float] = []
        tap = SAETap(session.sae, session.plan(steering), (), 10) if session.sae is not None else None
        res = generate_tokens(lm.model, lm.tokenizer, ids, sampling, tap=tap, hook_name=session.hook_name,
                              steer_hook=session.steer_hook_name, special_ids=session.special_ids,
                              on_token=lambda e: None if e.is_prompt else stamps.append(time.perf_counter()))
        if len(res.answer_ids) != tokens:
            raise RuntimeError(f"{dtype}: {len(res.answer_ids)} tokens instead of {tokens} (a stop token?)")
        # token i's event follows the model step on token i; the last token's step is cut short at the hook
        # (or skipped), so the whole steps are those between the first and the second-to-last event
        return (len(stamps) - 2) / (stamps[-2] - stamps[0])

    run.model = lm.model  # type: ignore[attr-defined]  # for products_pass_ms
    return run, ids


PRODUCTS = ("_weight_int4pack_mm", "_weight_int8pack_mm", "_linear_pointwise", "aten::linear", "aten::mm",
            "aten::mv", "aten::addmm")


def profile_tokens(run: Callable[[], float], tokens: int) -> dict[str, Any]:
    """``torch.profiler`` over one run: operator calls per generated token (all, and those called from Python),
    and the profiled self time per token of the weight products, attention and everything else (the profiler's
    own overhead inflates the small ops, so these times are shares to compare, not speeds)."""
    from torch.profiler import profile

    with profile() as prof:
        run()
    events = [e for e in prof.events() if e.name.startswith(("aten::", "mkldnn::"))]
    top = [e for e in events if e.cpu_parent is None or not e.cpu_parent.name.startswith(("aten::", "mkldnn::"))]
    ms: dict[str, float] = {"weight products": 0.0, "attention": 0.0, "everything else": 0.0}
    for e in events:
        part = ("weight products" if any(k in e.name for k in PRODUCTS) else
                "attention" if "scaled_dot_product" in e.name else "everything else")
        ms[part] += e.self_cpu_time_total / 1000
    n = tokens + 1  # the prompt's forward counts as one more step
    return {"op_calls_per_token": round(len(events) / n), "python_op_calls_per_token": round(len(top) / n),
            "profiled_ms_per_token": {k: round(v / n, 2) for k, v in ms.items()}}


def summarise(rounds: list[dict[str, float]], llama_ran: bool, tokens: int, threads: int) -> dict[str, Any]:
    names = [k for k in rounds[0] if k != "llama-bench"]
    out: dict[str, Any] = {"statistic": "median over rounds; ratios: median of the per-round ratios",
                           "tokens": tokens, "threads": threads, "rounds": len(rounds),
                           "tok_s_median": {k: _bench.rnd(_bench.median([r[k] for r in rounds]), 1)
                                            for k in ([*names, "llama-bench"] if llama_ran else names)}}
    if llama_ran:
        ratios = {k: [r[k] / r["llama-bench"] for r in rounds] for k in names}
        out["vs_llama_bench_median"] = {k: _bench.rnd(_bench.median(v), 3) for k, v in ratios.items()}
        out["vs_llama_bench_range"] = {k: [_bench.rnd(min(v), 3), _bench.rnd(max(v), 3)] for k, v in ratios.items()}
        if GOAL in ratios:
            out["goal_vs_llama_bench"] = {"config": GOAL, "target": 1.0, "median": out["vs_llama_bench_median"][GOAL]}
    else:
        out["vs_llama_bench_median"] = None
        out["llama_bench"] = "not run (--smoke)"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--llama-bench", default=None, help="the llama-bench binary (default: find or build it)")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="engine configurations, comma-separated")
    _bench.add_args(ap, DEFAULT)
    args = ap.parse_args(argv)
    if args.smoke:
        args.rounds, args.tokens = 1, 4
    if args.tokens < 3:
        ap.error("--tokens must be at least 3")
    load = _bench.start()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("DESKTOP_SAE_STEP_THREADS", "fixed")
    from desktop_sae.core.engine.model_cache import bundled_gguf_path

    gguf = bundled_gguf_path()
    exe = None if args.smoke else find_llama_bench(args.llama_bench)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        ap.error(f"unknown configurations {unknown}; choose from {list(CONFIGS)}")
    runners: dict[str, Callable[[], float]] = {}
    depth = 0
    for name in names:
        runners[name], ids = engine_runner(*CONFIGS[name], args.tokens)
        depth = len(ids)
        runners[name]()  # warm-up: kernel choice, first allocations
    rounds: list[dict[str, float]] = []
    info: dict[str, Any] = {}
    for r in range(args.rounds):
        order = list(runners) if r % 2 == 0 else list(reversed(runners))
        row: dict[str, float] = {}
        if exe is not None and r % 2 == 0:
            info = llama_bench_run(exe, gguf, args.threads, args.tokens, depth)
            row["llama-bench"] = info["tok_s"]
        for name in order:
            row[name] = runners[name]()
        if exe is not None and r % 2 == 1:
            info = llama_bench_run(exe, gguf, args.threads, args.tokens, depth)
            row["llama-bench"] = info["tok_s"]
        rounds.append(row)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()), flush=True)
    summary = summarise(rounds, exe is not None, args.tokens, args.threads)
    summary["profile"] = {name: profile_tokens(run, args.tokens) for name, run in runners.items()}
    models = {CONFIGS[name][0]: run.model for name, run in runners.items()}  # type: ignore[attr-defined]
    summary["products_only_ms_per_token_median"] = {dt: round(products_pass_ms(m), 2) for dt, m in models.items()}
    raw = {"rounds": rounds, "llama_bench": {**info, "binary": str(exe), "llama_cpp_python": LLAMA_CPP_PYTHON,
                                             "args": f"-t {args.threads} -p 0 -n {args.tokens} -d {depth} -r 1"}
           if exe is not None else None, "prompt_tokens": depth, "gguf": gguf.name}
    _bench.write(args, DEFAULT, summary, raw, load)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
