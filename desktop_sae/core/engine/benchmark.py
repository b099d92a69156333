"""``desktop-sae bench engine``: decoding speed of the engine against transformers' ``generate()``.

All configurations run interleaved in one process (machines are noisy), batch 1, greedy, a fixed number of
new tokens (EOS ignored). Reported: median tok/s per configuration and ratios against the baselines measured
in the same run (``generate()`` in float32, and the plain engine of the same dtype); the bytes of weights a step
reads and the share of the memory-bandwidth limit that is (a streaming read, best of the run, is the limit); the
single-row kernels' speed over all the weights; model load times and the peak RSS of a typical app session.
``--json`` writes a results file (``core.support.results_file``) whose ``summary`` holds what the docs quote;
:func:`engine_table` turns it into the README's table.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    import argparse

    from ..steering.specs import SteeringConfig
    from .session import Session

# Any below: a transformers model (or the lite engine's, which has the same attributes)
PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."
BASE = "a: transformers generate() fp32"
QUICK = {"tokens": 4, "repeats": 1, "dtypes": "bfloat16"}  # --quick: a few seconds, every path once


def _engine_run(session: Session, ids: Sequence[int], n: int, steering: SteeringConfig) -> float:
    from .generation import generate_tokens
    from .sae_tap import SAETap
    from .sampling import SamplingConfig

    sc = SamplingConfig(temperature=0, frequency_penalty=0.0, max_new_tokens=n)
    tap = SAETap(session.sae, session.plan(steering), (), 10) if session.sae is not None else None
    t = time.perf_counter()
    res = generate_tokens(session.lm.model, session.lm.tokenizer, ids, sc, tap=tap, hook_name=session.hook_name,
                          steer_hook=session.steer_hook_name,
                          special_ids=session.special_ids, skip_special=True)
    dt = time.perf_counter() - t
    assert len(res.answer_ids) == n
    return n / dt


def _hf_run(model: Any, ids: Sequence[int], n: int) -> float:
    t = time.perf_counter()
    out = model.generate(input_ids=torch.tensor([ids], device=model.device), max_new_tokens=n, min_new_tokens=n,
                         do_sample=False, pad_token_id=0)
    dt = time.perf_counter() - t
    assert out.shape[1] - len(ids) == n
    return n / dt


def _child(code: str, env: dict[str, str] | None = None) -> Any:
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **(env or {})}, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


LOAD_CODE = (
    "import time, json; t=time.perf_counter()\n"
    "from desktop_sae.core.engine.models import load_model\n"
    "t1=time.perf_counter(); lm=load_model(); t2=time.perf_counter()\n"
    "print(json.dumps({'import_s': t1-t, 'load_s': t2-t1, 'cache_hit': lm.cache_hit}))\n"
)


def _rss_code(n: int) -> str:
    """Peak RSS (MB) of loading the default model + SAE and generating n tokens with SAE readouts. VmHWM, not
    ru_maxrss: Linux carries ru_maxrss over fork+exec, so a child would report this process's peak."""
    return ("from desktop_sae.core.engine.sampling import SamplingConfig\n"
            "from desktop_sae.core.assets.opening import open_session\n"
            "s = open_session()\n"
            f"s.generate('Tell me a story.', SamplingConfig(max_new_tokens={n}))\n"
            "print(int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) / 1024)\n")


def _bandwidth(device: torch.device, mb: int = 512, rounds: int = 5) -> float:
    """Bytes/s at which the device streams a buffer far larger than its caches (best of ``rounds``, all threads):
    the ceiling for any kernel that reads every weight once per token."""
    buf = torch.ones(mb * 2**20 // 2, dtype=torch.bfloat16, device=device)
    buf.sum()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        float(buf.sum())  # float(): waits for a GPU
        best = min(best, time.perf_counter() - t)
    return buf.numel() * 2 / best


def bytes_per_token(model: Any) -> int:
    """Bytes of weights one decoding step reads: every projection and the lm_head (int8 ones at 1 byte + scales,
    int4 ones at half a byte + a scale and zero per group)."""
    from .lite.row_setup import row_weights

    if not hasattr(model, "row_kernel"):  # transformers: every parameter but the embedding rows not looked up
        head = model.lm_head.weight
        tied = head.numel() * head.element_size() if model.config.tie_word_embeddings else 0
        return tied + sum(p.numel() * p.element_size() for n, p in model.named_parameters() if "embed_tokens" not in n)
    total = 0
    for mod, attr in row_weights(model):
        row = getattr(mod, "row", None)
        if row is not None and row.kind == "int8":
            total += row.data.numel() + row.scales.numel() * row.scales.element_size()
        elif row is not None and row.kind == "int4":
            q = row.data  # an int4_groups.Int4Weight
            total += q.packed.numel() + q.scales_zeros.numel() * q.scales_zeros.element_size()
        else:
            w = getattr(mod, attr)
            total += w.numel() * w.element_size()
    return total + sum(p.numel() * p.element_size() for n, p in model.named_parameters() if "norm" in n)


def _sessions(dtypes: list[str], sae_dir: Path, device: str | None) -> dict[str, tuple[Session, Session, Any]]:
    """{label: (plain session, session with the SAE, model)}: each dtype with the kernel chosen for this machine,
    bfloat16 also with ``torch.mv`` (the kernel before the choice existed) and with int8 and int4 weights."""
    from ..sae.formats import load_sae
    from .lite.row_setup import install
    from .models import load_model
    from .session import Session

    out: dict[str, tuple[Session, Session, Any]] = {}
    for dt in dtypes:
        lm = load_model(device=device, dtype=dt)
        kernel = getattr(lm.model, "row_kernel", "transformers")
        out[f"{dt} [{kernel}]"] = (Session(lm), Session(lm, load_sae(sae_dir)), lm.model)
        if dt == "bfloat16" and kernel not in ("mv", "transformers"):
            old = load_model(device=device, dtype=dt)
            install(old.model, "mv")
            out["bfloat16 [mv]"] = (Session(old), Session(old, load_sae(sae_dir)), old.model)
    if "bfloat16" in dtypes and lm.device.type == "cpu":
        q = load_model(device=device, dtype="int8")
        out[f"int8 weights [{q.model.row_kernel} lm_head]"] = (Session(q), Session(q, load_sae(sae_dir)), q.model)
        q4 = load_model(device=device, dtype="int4")
        out["int4 weights [8-bit lm_head]"] = (Session(q4), Session(q4, load_sae(sae_dir)), q4.model)
    return out


def _kernel_passes(model: Any, repeats: int) -> dict[str, dict[str, Any]]:
    """Each single-row kernel over all of a bfloat16 model's decoding weights, once per repeat: median ms and
    GB/s of a pass (``row_setup.measure_kernels``, the same timing the engine uses to choose its kernel)."""
    from .lite.row_setup import measure_kernels, row_weights

    nbytes = sum(getattr(m, a).numel() * getattr(m, a).element_size() for m, a in row_weights(model))
    runs: dict[str, list[float]] = {}
    for _ in range(repeats):
        for k, s in measure_kernels(model, rounds=1).items():
            runs.setdefault(k, []).append(s)
    return {k: {"pass_ms_median": 1000 * statistics.median(v), "gb_s_median": nbytes / statistics.median(v) / 1e9,
                "all_ms": [1000 * x for x in v]} for k, v in runs.items()}


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """The values the docs quote, from a run's raw measurements (every tok/s and ratio a median over repeats)."""
    rows = {r["config"]: r for r in result["rows"]}
    table = {k: {"tok_s_median": round(r["median_tok_s"], 1), "vs_generate_fp32_median": round(r["median_vs_a"], 2),
                 "vs_engine_plain_median": None if r["median_vs_b"] is None else round(r["median_vs_b"], 3),
                 "mb_per_token": round(r["bytes_per_token"] / 1e6), "bandwidth_share_median": round(
                     r["median_tok_s"] * r["bytes_per_token"] / result["bandwidth_bytes_s"], 2)}
             for k, r in rows.items()}
    out: dict[str, Any] = {"statistic": "medians over the repeats; the bandwidth limit is the run's best read",
                           "tokens": result["tokens"], "repeats": result["repeats"],
                           "bandwidth_gb_s_best": round(result["bandwidth_bytes_s"] / 1e9, 1),
                           "bandwidth_gb_s_median": round(statistics.median(result["bandwidth_all"]) / 1e9, 1),
                           "table": table}
    for lab in sorted({k.split(": engine ", 1)[1] for k in rows if k.startswith("b: engine ")}):
        costs = [100 * (rows[k]["median_vs_b"] - 1) for k in rows
                 if k[:2] in ("c:", "d:", "e:") and f" {lab} +" in k and rows[k]["median_vs_b"] is not None]
        key = lab.split(" ")[0] + ("_mv" if "[mv]" in lab else "")
        b = rows[f"b: engine {lab}"]
        out[f"vs_generate_fp32_median_{key}"] = round(b["median_vs_a"], 2)
        # run-to-run noise: the plain engine's range over the repeats, as a share of its median
        out[f"plain_engine_spread_pct_{key}"] = round(100 * (max(b["all"]) - min(b["all"])) / b["median_tok_s"], 1)
        if costs:
            out[f"sae_and_steering_cost_pct_{key}"] = {"min": round(min(costs), 1), "max": round(max(costs), 1)}
    if "kernels" in result:
        ks = result["kernels"]
        out["kernels"] = {k: {"pass_ms_median": round(v["pass_ms_median"], 1), "gb_s_median": round(v["gb_s_median"],
                          1)} for k, v in ks.items()}
        for a, b in (("linear", "mv"), ("onednn", "linear"), ("onednn", "mv")):
            if a in ks and b in ks:
                out["kernels"][f"{a}_vs_{b}_speed"] = round(ks[b]["pass_ms_median"] / ks[a]["pass_ms_median"], 2)
        step = {k.split("[")[1].split("]")[0]: 1000 / r["median_tok_s"] for k, r in rows.items()
                if k.startswith("b: engine bfloat16 [")}
        out["bfloat16_ms_per_token_median"] = {k: round(v, 1) for k, v in step.items()}
        out["bfloat16_rest_ms_per_token_median"] = {k: round(v - ks[k]["pass_ms_median"], 1) for k, v in step.items()
                                                  if k in ks}
    if "warm_load" in result:
        warm = result["warm_load"]
        out.update(cold_load_s=round(result["cold_load"]["load_s"], 1),
                   warm_load_s_median=round(statistics.median(r["load_s"] for r in warm), 2),
                   warm_import_s_median=round(statistics.median(r["import_s"] for r in warm), 2),
                   peak_rss_mb={k: round(v) for k, v in result["peak_rss_mb"].items()})
    return out


def engine_table(record: dict[str, Any]) -> str:
    """The README's speed table (Markdown) from a results file written by ``desktop-sae bench engine --json``."""
    t = record["summary"]["table"]
    lines = ["| configuration (medians) | tok/s | vs generate() fp32 | vs engine plain | MB/token | "
             "share of bandwidth limit |", "|---|---|---|---|---|---|"]
    for k, r in t.items():
        name = k.replace("transformers generate() fp32", "`generate()` fp32").replace(" weights", "")
        vs_b = "" if r["vs_engine_plain_median"] is None else f"{r['vs_engine_plain_median']:.3f}"
        lines.append(f"| {name} | {r['tok_s_median']:.1f} | {r['vs_generate_fp32_median']:.2f} | {vs_b} | "
                     f"{r['mb_per_token']} | {100 * r['bandwidth_share_median']:.0f} % |")
    return "\n".join(lines)


def _configs(sessions: dict[str, tuple[Session, Session, Any]], hf_model: Any, ids: Sequence[int],
             n: int) -> dict[str, Callable[[], float]]:
    from ..steering.specs import SteeringConfig, SteerSpec

    feats = [11, 222, 3333]
    add3 = SteeringConfig(tuple(SteerSpec(f, 4.0) for f in feats))
    clamp3 = SteeringConfig(tuple(SteerSpec(f, 4.0, method="clamp") for f in feats))
    configs: dict[str, Callable[[], float]] = {BASE: lambda: _hf_run(hf_model, ids, n)}
    for lab, (plain, with_sae, _) in sessions.items():
        configs[f"b: engine {lab}"] = partial(_engine_run, plain, ids, n, SteeringConfig())
        if "[mv]" in lab:  # the kernel before the choice: its plain speed is the comparison
            continue
        configs[f"c: engine {lab} + SAE encode"] = partial(_engine_run, with_sae, ids, n, SteeringConfig())
        configs[f"d: engine {lab} + SAE + 3 add"] = partial(_engine_run, with_sae, ids, n, add3)
        configs[f"e: engine {lab} + SAE + 3 clamp"] = partial(_engine_run, with_sae, ids, n, clamp3)
    return configs


def _load_and_rss(n: int, loads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cold = _child(LOAD_CODE, {"DESKTOP_SAE_CACHE_DIR": tmp})
    warm = [_child(LOAD_CODE) for _ in range(loads)]
    rss = {"default": _child(_rss_code(n)), "torch.mv kernel": _child(_rss_code(n), {"DESKTOP_SAE_ROW_KERNEL": "mv"}),
           "transformers": _child(_rss_code(n), {"DESKTOP_SAE_ENGINE": "transformers"})}
    return {"cold_load": cold, "warm_load": warm, "peak_rss_mb": rss}


def main(args: argparse.Namespace) -> int:
    from ..support.paths import default_sae_dir
    from ..support.results_file import load_average, write_results
    from .models import load_model

    load_before = load_average()
    if getattr(args, "quick", False):
        for k, v in QUICK.items():
            setattr(args, k, v)
    n, repeats = args.tokens, args.repeats
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {n} new tokens, batch 1, greedy, "
          f"{repeats} repeats", flush=True)
    sae_dir = default_sae_dir()
    assert sae_dir is not None, "the engine bench needs the bundled SAE"
    device = getattr(args, "device", None)
    sessions = _sessions(dtypes, sae_dir, device)
    print(f"SAE: bundled ({sae_dir.name}); engines: {', '.join(sessions)}", flush=True)
    hf_model = load_model(device=device, dtype="float32").model
    ids = next(iter(sessions.values()))[0].prompt_ids(PROMPT)
    configs = _configs(sessions, hf_model, ids, n)
    for fn in configs.values():  # warm-up (kernel selection, allocator)
        fn()
    dev = hf_model.device
    bandwidth = [_bandwidth(dev)]
    rates: dict[str, list[float]] = {k: [] for k in configs}
    for r in range(repeats):
        for k, fn in configs.items():
            rates[k].append(fn())
        bandwidth.append(_bandwidth(dev))
        print(f"  repeat {r + 1}/{repeats} done", flush=True)
    bw = max(bandwidth)
    per_token = {k: bytes_per_token(m) for k, (_, _, m) in sessions.items()}
    per_token[BASE] = bytes_per_token(hf_model)
    print(f"memory bandwidth (streaming read, best of {len(bandwidth)}): {bw / 1e9:.1f} GB/s")
    med = {k: statistics.median(v) for k, v in rates.items()}
    base = med[BASE]
    rows = []
    print(f"\n{'configuration (medians)':52s} {'tok/s':>6s} {'vs a':>6s} {'vs b':>6s} | {'MB/tok':>6s} {'of BW':>6s}")
    for k in rates:
        engine = next((x for x in sessions if f" {x}" in k), None)
        # the plain engine of the same weights; torch.mv's against the kernel chosen for bfloat16
        ref = next((x for x in sessions if x.startswith("bfloat16 [") and x != engine), engine) \
            if engine == "bfloat16 [mv]" else engine
        bm = med[f"b: engine {ref}"] if ref else None
        m = med[k]
        nbytes = per_token[engine] if engine else per_token[k]
        share = m * nbytes / bw
        rows.append({"config": k, "median_tok_s": m, "median_vs_a": m / base, "median_vs_b": (m / bm) if bm else None,
                     "best_tok_s": max(rates[k]), "bytes_per_token": nbytes,
                     "median_share_of_bandwidth_limit": share, "all": rates[k]})
        print(f"{k:52s} {m:6.1f} {m / base:6.2f} {'' if not bm else f'{m / bm:6.3f}':>6s} | "
              f"{nbytes / 1e6:6.0f} {share:6.0%}")
    result: dict[str, Any] = {"quick": bool(getattr(args, "quick", False)), "tokens": n, "repeats": repeats,
                              "dtypes": dtypes, "bandwidth_bytes_s": bw,
                              "bandwidth_all": bandwidth, "rows": rows}
    bf16 = next((m for k, (_, _, m) in sessions.items() if k.startswith("bfloat16 [") and "[mv]" not in k), None)
    if bf16 is not None and hasattr(bf16, "row_kernel") and dev.type == "cpu":
        result["kernels"] = _kernel_passes(bf16, repeats)
        print("single-row kernels over all weights (median):",
              {k: f"{v['pass_ms_median']:.1f} ms, {v['gb_s_median']:.1f} GB/s" for k, v in result["kernels"].items()})
    if not args.no_load:
        result.update(_load_and_rss(n, 3))
        warm = ", ".join(f"{r['load_s']:.2f}" for r in result["warm_load"])
        rss = {k: round(v) for k, v in result["peak_rss_mb"].items()}
        print(f"\ncold load (GGUF -> cache): {result['cold_load']['load_s']:.2f} s; warm loads: {warm} s; "
              f"peak RSS (MB): {rss}")
    result["bench_process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = summarise(result)
    if args.json:
        write_results(args.json, {"summary": summary, **result}, load_before=load_before,
                      command=["desktop-sae", *sys.argv[1:]])
        print(f"results: {args.json}")
    return 0
