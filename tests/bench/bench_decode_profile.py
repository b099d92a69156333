"""Where a decoding step's time goes on the CPU, and what the engine's kernel choice and int8 weights do to it.

One process, the bundled model in bfloat16 on torch's threads (the step-thread governor off, so every step uses
all of them), batch 1, greedy, ``--tokens`` new tokens after benchmark.PROMPT. Measured, interleaved per repeat:

- the machine's streaming read (``benchmark._bandwidth``: a 512 MB buffer, all threads), the ceiling of any kernel;
- for each single-row kernel (``torch.mv``, ``F.linear``, oneDNN prepacked): one pass of products over every
  weight a step reads, in the step's order (``row_setup``'s timing), and the engine's time per generated token
  (the interval between ``generate_tokens``' token events: sampling, the model step, the readout);
- with the chosen kernel: the same with the SAE encoding every token, and with 3 features steered (add);
- int8: a pass with the engine's int8 projections (lm_head bfloat16), and with the lm_head in int8 too.

Once: the model's sizes (parameters, bytes a step reads in bfloat16 and int8); ``torch.profiler`` over decoding
steps (attention's time per step, operator calls per step); the decode attention (SDPA against a hand-written
grouped-head version with a float32 softmax) and RMSNorm (``F.rms_norm`` against transformers' op sequence) timed
alone; how long the engine's kernel choice takes; the peak RSS of an app-like session with oneDNN and with
``torch.mv`` (child processes, as ``desktop-sae bench engine`` measures it).

  python tests/bench/bench_decode_profile.py [--tokens 32] [--repeats 7] [--threads 1]

writes docs/results/bench/decoding_profile.json (``--json`` elsewhere; ``--smoke``: a few seconds). docs/DECODING.md
quotes a ``--threads 1`` run: on a machine shared with other jobs, two threads' joins wait for their time slices.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import _bench
import torch
import torch.nn.functional as F

DEFAULT = _bench.RESULTS / "decoding_profile.json"
KINDS = ("mv", "linear", "onednn")


def model_facts(m: Any, q: Any) -> dict[str, Any]:
    """Parameter counts and the bytes one step reads (``m`` bfloat16, ``q`` its int8-weight twin)."""
    from desktop_sae.core.engine.benchmark import bytes_per_token
    from desktop_sae.core.engine.lite.row_setup import row_weights

    rows = [getattr(mod, a) for mod, a in row_weights(m)]
    norms = sum(p.numel() for n, p in m.named_parameters() if "norm" in n)
    head = m.lm_head.weight
    return {"layers": len(m.model.layers), "products_per_step": len(rows),
            "product_params": sum(w.numel() for w in rows), "norm_params": norms,
            "norm_bytes": sum(p.numel() * p.element_size() for n, p in m.named_parameters() if "norm" in n),
            "params": sum(w.numel() for w in rows) + norms, "lm_head_shape": list(head.shape),
            "lm_head_tied": head.data_ptr() == m.model.embed_tokens.weight.data_ptr(),
            "bytes_per_token_bfloat16": bytes_per_token(m), "bytes_per_token_int8": bytes_per_token(q)}


def _rows(model: Any) -> list[Any]:
    from desktop_sae.core.engine.lite.row_setup import row_weights

    return [mod.row for mod, _ in row_weights(model)]


def _put(model: Any, rows: list[Any], kind: str) -> None:
    from desktop_sae.core.engine.lite.row_setup import row_weights

    for (mod, _), r in zip(row_weights(model), rows):
        mod.row = r
    model.row_kernel = kind


def _pass_ms(rows: list[Any]) -> float:
    from desktop_sae.core.engine.lite.row_setup import _time_pass

    xs = {r.weight.shape[1]: torch.randn(1, r.weight.shape[1]).to(r.weight.dtype) for r in rows}
    with torch.inference_mode():
        return 1000 * _time_pass(rows, xs)


def _nbytes(rows: list[Any]) -> int:
    return sum(r.data.numel() + r.scales.numel() * r.scales.element_size() if r.kind == "int8"
               else r.weight.numel() * r.weight.element_size() for r in rows)


def _token_ms(session: Any, ids: list[int], n: int, steering: Any) -> list[float]:
    """Milliseconds per generated token: intervals between token events, the last (which runs no step) left out."""
    from desktop_sae.core.engine.generation import generate_tokens
    from desktop_sae.core.engine.sae_tap import SAETap
    from desktop_sae.core.engine.sampling import SamplingConfig

    stamps: list[float] = []
    sc = SamplingConfig(temperature=0, frequency_penalty=0.0, max_new_tokens=n)
    tap = SAETap(session.sae, session.plan(steering), (), 10) if session.sae is not None else None
    generate_tokens(session.lm.model, session.lm.tokenizer, ids, sc, tap=tap, hook_name=session.hook_name,
                    special_ids=session.special_ids, skip_special=True,
                    on_token=lambda e: stamps.append(time.perf_counter()))
    t = stamps[-n:-1]
    return [1000 * (b - a) for a, b in zip(t, t[1:])]


def _int8_head(q: Any) -> Any:
    """The int8 model's lm_head rounded per row to int8 as ``row_setup.quantize_int8`` rounds the projections."""
    from desktop_sae.core.support.row_kernels import RowWeight

    w = q.lm_head.weight.data
    scale = (w.float().abs().amax(dim=1).clamp_min(1e-12) / 127).to(w.dtype)
    data = torch.round(w.float() / scale.float()[:, None]).clamp_(-127, 127).to(torch.int8)
    return RowWeight(w, "int8", data, scale)


def profile_steps(model: Any, ids: list[int], steps: int) -> dict[str, float]:
    """``torch.profiler`` over ``steps`` bare decoding steps: SDPA's time per step and per call, operator calls."""
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=1)
        cache, tok = out.past_key_values, int(out.logits[0, -1].argmax())
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                out = model(input_ids=torch.tensor([[tok]]), past_key_values=cache, use_cache=True, logits_to_keep=1)
                cache, tok = out.past_key_values, int(out.logits[0, -1].argmax())
    ev = {e.key: e for e in prof.key_averages()}
    top = sum(1 for e in prof.events() if e.cpu_parent is None)  # the calls the Python code makes
    sdpa = ev["aten::scaled_dot_product_attention"]
    return {"steps": steps, "sdpa_ms_per_step": sdpa.cpu_time_total / 1000 / steps,
            "sdpa_calls_per_step": sdpa.count / steps, "sdpa_us_per_call": sdpa.cpu_time_total / sdpa.count,
            "operator_calls_per_step": sum(e.count for e in ev.values()) / steps,
            "top_level_calls_per_step": top / steps}


def _per_call_us(fns: dict[str, Any], calls: int, blocks: int) -> dict[str, float]:
    """Median over ``blocks`` of the mean µs per call of each of ``fns`` over ``calls`` calls; the functions take
    turns block by block, so a change of the machine's load falls on all of them alike."""
    for fn in fns.values():
        fn()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(blocks):
        for k, fn in fns.items():
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            out[k].append(1e6 * (time.perf_counter() - t) / calls)
    return {k: statistics.median(v) for k, v in out.items()}


def micro(model: Any, context: int, calls: int, blocks: int) -> dict[str, float]:
    """Decode attention and RMSNorm, each against its hand-written alternative, alone (µs per call, medians)."""
    cfg = model.config
    h, kv, hd, dt = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, model.dtype
    q, k, v = torch.randn(1, h, 1, hd, dtype=dt), torch.randn(1, kv, context, hd, dtype=dt), \
        torch.randn(1, kv, context, hd, dtype=dt)
    scale = hd ** -0.5

    def sdpa() -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, scale=scale, enable_gqa=kv < h)

    def manual() -> torch.Tensor:  # the query heads of a group against their shared key/value head
        s = (q.view(1, kv, h // kv, hd) @ k.transpose(-1, -2)).float() * scale
        return (s.softmax(-1).to(dt) @ v).view(1, h, 1, hd)

    norm = model.model.norm
    x = torch.randn(1, 1, cfg.hidden_size, dtype=dt)

    def rms_manual() -> torch.Tensor:  # transformers' LlamaRMSNorm.forward
        y = x.float()
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
        return norm.weight * y.to(dt)

    with torch.inference_mode():
        diff = float((sdpa().float() - manual().float()).abs().max())
        res = {"context": context, "attention_max_abs_diff": diff,
               **_per_call_us({"sdpa_us": sdpa, "manual_attention_us": manual}, calls, blocks),
               **_per_call_us({"rms_norm_us": lambda: norm(x), "rms_manual_us": rms_manual}, calls, blocks)}
    return res


def tap_us(session: Any, configs: dict[str, Any], calls: int, blocks: int) -> dict[str, float]:
    """The SAE tap alone on one token's activation (encode, steering, readout): µs per call, medians."""
    from desktop_sae.core.engine.sae_tap import SAETap

    d = session.sae.cfg.d_in
    x = torch.randn(1, 1, d, dtype=session.lm.dtype) * ((session.typical_norm or d ** 0.5) / d ** 0.5)
    taps = {name: SAETap(session.sae, session.plan(steering), (), 10) for name, steering in configs.items()}
    for tap in taps.values():
        tap.mask = torch.ones(1, 1)
    with torch.inference_mode():
        return _per_call_us({k: lambda t=t: t(x) for k, t in taps.items()}, calls, blocks)


def _rss(n: int) -> dict[str, float]:
    from desktop_sae.core.engine.benchmark import _child, _rss_code

    return {k: _child(_rss_code(n), {"DESKTOP_SAE_ROW_KERNEL": k}) for k in ("onednn", "mv")}


def measure(a: argparse.Namespace) -> dict[str, Any]:
    from desktop_sae.core.engine.benchmark import PROMPT, _bandwidth
    from desktop_sae.core.engine.lite.row_setup import install, measure_kernels
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.engine.session import Session
    from desktop_sae.core.engine.step_threads import GOVERNOR
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
    from desktop_sae.core.support.paths import default_sae_dir

    GOVERNOR.enabled = False  # every step on all threads: the parts below are timed that way too
    lm, qm = load_model(dtype="bfloat16"), load_model(dtype="int8")
    m, chosen = lm.model, lm.model.row_kernel
    t = time.perf_counter()
    choice_ms = measure_kernels(m, rounds=3)  # what the engine runs at load when it has no remembered answer
    choice_s = time.perf_counter() - t
    rows = {}
    for k in KINDS:
        install(m, k)
        rows[k] = _rows(m)
        _pass_ms(rows[k])  # warm-up: oneDNN's reordered copy, page faults
    q_rows = _rows(qm.model)
    q_all = [*q_rows[:-1], _int8_head(qm.model)]
    _pass_ms(q_rows), _pass_ms(q_all)  # warm-up
    plain, with_sae = Session(lm), Session(lm, load_sae(default_sae_dir()))
    ids = plain.prompt_ids(PROMPT)
    add3 = SteeringConfig(tuple(SteerSpec(f, 4.0) for f in (11, 222, 3333)))
    configs = {**{f"token {k}": (k, plain, SteeringConfig()) for k in KINDS},
               "token sae": (chosen, with_sae, SteeringConfig()), "token sae + 3 add": (chosen, with_sae, add3)}
    for k, s, st in configs.values():  # warm-up
        _put(m, rows[k], k)
        _token_ms(s, ids, min(a.tokens, 4), st)
    raw: dict[str, Any] = {"bandwidth_bytes_s": [], **{f"pass {k}": [] for k in (*KINDS, "int8", "int8 all")},
                           **{c: [] for c in configs}}
    for r in range(a.repeats):
        raw["bandwidth_bytes_s"].append(_bandwidth(torch.device("cpu")))
        for k in KINDS:
            raw[f"pass {k}"].append(_pass_ms(rows[k]))
        raw["pass int8"].append(_pass_ms(q_rows))
        raw["pass int8 all"].append(_pass_ms(q_all))
        for c, (k, s, st) in configs.items():
            _put(m, rows[k], k)
            raw[c].extend(_token_ms(s, ids, a.tokens, st))
        print(f"repeat {r + 1}/{a.repeats} done", flush=True)
    _put(m, rows[chosen], chosen)
    raw["bandwidth_bytes_s"].append(_bandwidth(torch.device("cpu")))
    return {"threads": torch.get_num_threads(), "chosen_kernel": chosen, "tokens": a.tokens, "repeats": a.repeats,
            "model": model_facts(m, qm.model), "kernel_choice": {"seconds": choice_s, "pass_ms": choice_ms},
            "bytes_per_pass": {k: _nbytes(v) for k, v in (("bfloat16", rows[chosen]), ("int8", q_rows),
                                                            ("int8 all", q_all))},
            "profile": profile_steps(m, ids, a.profile_steps),
            "micro": micro(m, len(ids) + a.tokens, a.calls, a.blocks), "raw": raw,
            "tap_us": tap_us(with_sae, {"sae": SteeringConfig(), "sae + 3 add": add3}, a.calls, a.blocks),
            "peak_rss_mb": None if a.smoke else _rss(16)}


def _per_repeat_cost(raw: dict[str, list[float]], config: str, base: str, tokens: int) -> dict[str, float]:
    """Percent more time per token than ``base``, from each repeat's medians: the median, least and most."""
    n = max(tokens - 2, 1)  # steps timed per generation
    a, b = raw[config], raw[base]
    pct = [100 * (statistics.median(a[i:i + n]) / statistics.median(b[i:i + n]) - 1) for i in range(0, len(a), n)]
    return {"median": round(statistics.median(pct), 1), "min": round(min(pct), 1), "max": round(max(pct), 1)}


def summarise(res: dict[str, Any]) -> dict[str, Any]:
    """The values docs/DECODING.md quotes (medians over every step or pass of every repeat)."""
    raw, mf, prof, mi = res["raw"], res["model"], res["profile"], res["micro"]
    med = {k: statistics.median(v) for k, v in raw.items() if k != "bandwidth_bytes_s"}
    bw = raw["bandwidth_bytes_s"]
    bw_best, nbytes = max(bw), mf["bytes_per_token_bfloat16"]
    rows_bytes = res["bytes_per_pass"]["bfloat16"]
    r = round
    kernels = {}
    for k in KINDS:
        p, tok = med[f"pass {k}"], med[f"token {k}"]
        kernels[k] = {"pass_ms_median": r(p, 1), "pass_gb_s_median": r(rows_bytes / p / 1e6, 1),
                      "token_ms_median": r(tok, 1), "rest_ms_median": r(tok - p - prof["sdpa_ms_per_step"], 1),
                      "pass_share_of_bandwidth_best": r(rows_bytes / p / 1e-3 / bw_best, 2),
                      "token_share_of_bandwidth_best": r(nbytes / tok / 1e-3 / bw_best, 2)}
    c, tok = res["chosen_kernel"], med[f"token {res['chosen_kernel']}"]
    int8_all = res["bytes_per_pass"]["int8 all"]
    return {
        "statistic": "medians over every step (tokens) or pass of every repeat; bandwidth: best and median read",
        "threads": res["threads"], "chosen_kernel": c,
        "params_millions": r(mf["params"] / 1e6, 1), "bytes_per_token_bfloat16_mb": r(nbytes / 1e6),
        "bytes_per_token_int8_mb": r(mf["bytes_per_token_int8"] / 1e6), "norm_bytes_kb": r(mf["norm_bytes"] / 1e3),
        "lm_head_rows": mf["lm_head_shape"][0], "lm_head_cols": mf["lm_head_shape"][1],
        "products_per_step": mf["products_per_step"], "layers": mf["layers"],
        "bandwidth_gb_s_best": r(bw_best / 1e9, 1), "bandwidth_gb_s_median": r(statistics.median(bw) / 1e9, 1),
        "kernels": kernels, "token_bytes_at_best_bandwidth_ms": r(nbytes / bw_best * 1000, 1),
        "linear_vs_mv_pass_speed": r(med["pass mv"] / med["pass linear"], 2),
        "onednn_vs_linear_pass_speed": r(med["pass linear"] / med["pass onednn"], 2),
        "kernel_choice_s": r(res["kernel_choice"]["seconds"], 2),
        "attention_ms_per_step_profiled": r(prof["sdpa_ms_per_step"], 1),
        "attention_calls_per_step": r(prof["sdpa_calls_per_step"]),
        "operator_calls_per_step_profiled": r(prof["operator_calls_per_step"]),
        "top_level_operator_calls_per_step_profiled": r(prof["top_level_calls_per_step"]),
        "sae_encode_cost_pct_median": r(100 * (med["token sae"] / tok - 1), 1),
        "sae_and_3_add_cost_pct_median": r(100 * (med["token sae + 3 add"] / tok - 1), 1),
        "sae_and_3_add_cost_pct_per_repeat": _per_repeat_cost(raw, "token sae + 3 add", f"token {c}", res["tokens"]),
        "tap_sae_us_median": r(res["tap_us"]["sae"]), "tap_sae_3_add_us_median": r(res["tap_us"]["sae + 3 add"]),
        "tap_sae_3_add_pct_of_token": r(100 * res["tap_us"]["sae + 3 add"] / 1000 / tok, 1),
        "sdpa_us_median": r(mi["sdpa_us"]), "manual_attention_us_median": r(mi["manual_attention_us"]),
        "manual_attention_saving_pct_of_token": r(
            100 * prof["sdpa_calls_per_step"] * (mi["sdpa_us"] - mi["manual_attention_us"]) / 1000 / tok, 1),
        "rms_norm_us_median": r(mi["rms_norm_us"], 1), "rms_manual_us_median": r(mi["rms_manual_us"], 1),
        "int8_pass_ms_median": r(med["pass int8"], 1), "int8_all_pass_ms_median": r(med["pass int8 all"], 1),
        "int8_all_gb_s_median": r(int8_all / med["pass int8 all"] / 1e6, 1),
        "int8_all_vs_bfloat16_pass_speed": r(med[f"pass {c}"] / med["pass int8 all"], 2),
        "peak_rss_mb": None if res["peak_rss_mb"] is None else {k: r(v) for k, v in res["peak_rss_mb"].items()},
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    ap.add_argument("--profile-steps", type=int, default=16)
    ap.add_argument("--calls", type=int, default=300, help="calls per timed block of the attention/RMSNorm/tap timings")
    ap.add_argument("--blocks", type=int, default=15, help="timed blocks of each of those (the median is kept)")
    _bench.add_args(ap, DEFAULT)
    a = ap.parse_args()
    load_before = _bench.start()
    if a.smoke:
        a.tokens, a.repeats, a.profile_steps, a.calls, a.blocks = 4, 1, 2, 5, 3
    if a.threads:
        torch.set_num_threads(a.threads)
    res = measure(a)
    summary = {**summarise(res), "load_average_1min": {"before": load_before, "after": _bench.start()}}
    for k, v in summary.items():
        print(f"{k}: {v}")
    _bench.write(a, DEFAULT, summary, res, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
