"""``desktop-sae bench engine``: decoding speed of the engine against transformers' ``generate()``.

All configurations run interleaved in one process (machines are noisy), batch 1, greedy, a fixed number of
new tokens (EOS ignored). Reported: median tok/s per configuration and ratios against the baselines measured
in the same run, warm and cold model load times, and the peak RSS of a typical app session.
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


def _engine_run(session: Session, ids: Sequence[int], n: int, steering: SteeringConfig) -> float:
    from .generation import generate_tokens
    from .sae_tap import SAETap
    from .sampling import SamplingConfig

    sc = SamplingConfig(temperature=0, frequency_penalty=0.0, max_new_tokens=n)
    tap = SAETap(session.sae, session.plan(steering), (), 10) if session.sae is not None else None
    t = time.perf_counter()
    res = generate_tokens(session.lm.model, session.lm.tokenizer, ids, sc, tap=tap, hook_name=session.hook_name,
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


def _subprocess_load(cache_dir: str | None) -> dict:
    code = (
        "import time, json, resource; t=time.perf_counter()\n"
        "from desktop_sae.core.engine.models import load_model\n"
        "t1=time.perf_counter(); lm=load_model(); t2=time.perf_counter()\n"
        "print(json.dumps({'import_s': t1-t, 'load_s': t2-t1, 'cache_hit': lm.cache_hit}))\n"
    )
    env = dict(os.environ)
    if cache_dir:
        env["DESKTOP_SAE_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _subprocess_rss(n: int) -> float:
    """Peak RSS (MB) of loading the default model + SAE and generating n tokens with SAE readouts."""
    code = (
        "from desktop_sae.core.steering.specs import SamplingConfig\n"
        "from desktop_sae.core.engine.session import open_session\n"
        "s = open_session()\n"
        f"s.generate('Tell me a story.', SamplingConfig(max_new_tokens={n}))\n"
        "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
    )
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec, so a child would report this process's peak
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


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
    """Bytes of weights one decoding step reads: every projection and the lm_head (int8 ones at 1 byte + scales)."""
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
        else:
            w = getattr(mod, attr)
            total += w.numel() * w.element_size()
    return total + sum(p.numel() * p.element_size() for n, p in model.named_parameters() if "norm" in n)


def _sessions(dtypes: list[str], sae_dir: Path, device: str | None) -> dict[str, tuple[Session, Session, Any]]:
    """{label: (plain session, session with the SAE, model)}: each dtype with the kernel chosen for this machine,
    bfloat16 also with ``torch.mv`` (the kernel before the choice existed) and with int8 weights."""
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
    return out


def main(args: argparse.Namespace) -> int:
    from ..steering.specs import SteeringConfig, SteerSpec
    from ..support.paths import default_sae_dir
    from .models import load_model

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
    feats = [11, 222, 3333]
    add3 = SteeringConfig(tuple(SteerSpec(f, 4.0) for f in feats))
    clamp3 = SteeringConfig(tuple(SteerSpec(f, 4.0, method="clamp") for f in feats))
    configs: dict[str, Callable[[], float]] = {"a: transformers generate() fp32": lambda: _hf_run(hf_model, ids, n)}
    for lab, (plain, with_sae, _) in sessions.items():
        configs[f"b: engine {lab}"] = partial(_engine_run, plain, ids, n, SteeringConfig())
        configs[f"c: engine {lab} + SAE encode"] = partial(_engine_run, with_sae, ids, n, SteeringConfig())
        configs[f"d: engine {lab} + SAE + 3 add"] = partial(_engine_run, with_sae, ids, n, add3)
        configs[f"e: engine {lab} + SAE + 3 clamp"] = partial(_engine_run, with_sae, ids, n, clamp3)
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
    per_token["a: transformers generate() fp32"] = bytes_per_token(hf_model)
    print(f"memory bandwidth (streaming read, best of {len(bandwidth)}): {bw / 1e9:.1f} GB/s")
    # Ratios use each configuration's best run (like timeit): interference from other work only slows runs
    # down, so the fastest run is the least disturbed. Medians are printed beside them.
    best = {k: max(v) for k, v in rates.items()}
    med = {k: statistics.median(v) for k, v in rates.items()}
    base, base_med = best["a: transformers generate() fp32"], med["a: transformers generate() fp32"]
    rows = []
    print(f"\n{'configuration':52s} {'best':>6s} {'vs a':>6s} {'vs b':>6s} | {'median':>6s} {'vs a':>6s} "
          f"{'vs b':>6s} | {'MB/tok':>6s} {'of BW':>6s}")
    for k in rates:
        engine = next((x for x in sessions if f" {x}" in k), None)
        b, bm = (best[f"b: engine {engine}"], med[f"b: engine {engine}"]) if engine else (None, None)
        v, m = best[k], med[k]
        nbytes = per_token[engine] if engine else per_token[k]
        share = v * nbytes / bw
        rows.append({"config": k, "best_tok_s": v, "best_vs_a": v / base, "best_vs_b": (v / b) if b else None,
                     "median_tok_s": m, "median_vs_a": m / base_med, "median_vs_b": (m / bm) if bm else None,
                     "bytes_per_token": nbytes, "share_of_bandwidth_limit": share, "all": rates[k]})
        print(f"{k:52s} {v:6.1f} {v / base:6.2f} {'' if not b else f'{v / b:6.3f}':>6s} | "
              f"{m:6.1f} {m / base_med:6.2f} {'' if not bm else f'{m / bm:6.3f}':>6s} | "
              f"{nbytes / 1e6:6.0f} {share:6.0%}")
    result = {"tokens": n, "repeats": repeats, "bandwidth_bytes_s": bw, "bandwidth_all": bandwidth, "rows": rows}
    if not args.no_load:
        with tempfile.TemporaryDirectory() as tmp:
            cold = _subprocess_load(tmp)
        warm = _subprocess_load(None)
        rss = _subprocess_rss(n)
        result.update(cold_load=cold, warm_load=warm, peak_rss_mb=rss)
        print(f"\ncold load (GGUF -> cache): {cold['load_s']:.2f} s; warm load: {warm['load_s']:.2f} s "
              f"(+ {warm['import_s']:.2f} s importing torch/transformers)")
        print(f"peak RSS, default model + SAE, {n} tokens with readouts: {rss:.0f} MB")
    result["bench_process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        from ..support.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1))
    return 0
