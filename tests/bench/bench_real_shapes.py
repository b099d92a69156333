"""Decoding speed on the shapes of the models people use with SAEs today, on the CPU, in one run.

Random-weight models with the exact shapes of google/gemma-3-270m-it, gemma-3-1b-it, Qwen/Qwen3-0.6B and
meta-llama/Llama-3.2-1B-Instruct (tests/data/real_model_configs.json: full vocabularies, tied embeddings, their
attention layouts) are written once as Hugging Face folders (``--work``), then each model in turn is measured, batch
1, greedy, ``--tokens`` new tokens after a ``--prompt``-token prompt, its configurations taking turns round by round
(``--rounds``) so a change of the machine's load falls on all of them alike:

- the lite engine in bfloat16 and with int8 weights: plain, and with an SAE (random, 16 384 features; JumpReLU on the
  Gemmas as Gemma Scope's, TopK on the others) encoding every token at a middle layer's resid_post with 3 features
  steered (add);
- transformers' ``generate()`` on the same folder in float32 and in bfloat16;
- the machine's streaming read (``benchmark._bandwidth``), each round: with the bytes one step reads it gives the
  memory-bandwidth limit of decoding in tok/s.

Every tok/s in the summary is a median over rounds; the bandwidth is the best read of the run.

  python tests/bench/bench_real_shapes.py [--models gemma-3-270m-it ...] [--tokens 32] [--rounds 5]

writes docs/results/bench/real_shapes.json (``--json`` elsewhere). ``--quick``: real shapes, 1 round of 4 tokens (to
check the script on the real sizes); ``--smoke``: tiny shapes, a few seconds (CI).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import _bench
import torch

DEFAULT = _bench.RESULTS / "real_shapes.json"
REAL = _bench.ROOT / "tests" / "data" / "real_model_configs.json"
D_SAE, STEERED = 16384, (11, 222, 3333)


def configs(smoke: bool) -> dict[str, dict[str, Any]]:
    """{short name: config.json} for the four models (smoke: the same keys, tiny sizes)."""
    out = {}
    for name, cfg in json.loads(REAL.read_text()).items():
        if "/" not in name:
            continue
        cfg = dict(cfg)
        if smoke:
            cfg.update(hidden_size=64, intermediate_size=128, num_hidden_layers=min(cfg["num_hidden_layers"], 7),
                       head_dim=32, vocab_size=512, num_attention_heads=4, sliding_window=8,
                       num_key_value_heads=min(cfg["num_key_value_heads"], 2))
            if "layer_types" in cfg:
                cfg["layer_types"] = cfg["layer_types"][: cfg["num_hidden_layers"]]
        cfg.update(bos_token_id=1, eos_token_id=2, pad_token_id=0)  # the word tokenizer's ids
        out[name.split("/")[1]] = cfg
    return out


def _tokenizer(vocab: int) -> Any:
    """A word-level tokenizer with ``vocab`` entries (t0, t1, ...), so every id decodes."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"<pad>": 0, "<bos>": 1, "<eos>": 2, **{f"t{i}": i for i in range(3, vocab)}}
    tok = Tokenizer(models.WordLevel(words, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<pad>")


def write_folder(folder: Path, cfg: dict[str, Any], seed: int = 0) -> Path:
    """A folder with random weights for ``cfg`` (bfloat16), written tensor by tensor; kept when it is complete."""
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM

    done = folder / "complete.json"
    if done.is_file() and json.loads(done.read_text()) == cfg:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg, indent=1))
    with torch.device("meta"):
        shapes = {n: p.shape for n, p in AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder)
                                                                          ).state_dict().items()}
    if cfg.get("tie_word_embeddings", cfg["model_type"] == "gemma3_text"):
        shapes.pop("lm_head.weight", None)
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for n, shape in shapes.items():
        if n.endswith("norm.weight"):
            base = 0.0 if cfg["model_type"] == "gemma3_text" else 1.0
            tensors[n] = (base + 0.1 * torch.randn(shape, generator=g)).to(torch.bfloat16)
        else:
            tensors[n] = (0.02 * torch.randn(shape, generator=g)).to(torch.bfloat16)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del tensors
    _tokenizer(cfg["vocab_size"]).save_pretrained(folder)
    done.write_text(json.dumps(cfg))
    return folder


def random_sae(d_in: int, layer: int, jumprelu: bool, seed: int = 0) -> Any:
    from desktop_sae.core.sae.autoencoder import SAE
    from desktop_sae.core.sae.sae_config import SAEConfig

    g = torch.Generator().manual_seed(seed)
    arch = "jumprelu" if jumprelu else "topk"
    sae = SAE(SAEConfig(d_in, D_SAE, arch, k=None if jumprelu else 64, hook_name=f"blocks.{layer}.hook_resid_post",
                        metadata={"typical_norm": float(d_in) ** 0.5}))
    with torch.no_grad():
        sae.W_dec.copy_(torch.nn.functional.normalize(torch.randn(D_SAE, d_in, generator=g), dim=-1))
        sae.W_enc.copy_(sae.W_dec.T)
        if jumprelu:
            sae.threshold.copy_(0.5 + torch.rand(D_SAE, generator=g))
    return sae


def measure_model(folder: Path, cfg: dict[str, Any], a: argparse.Namespace) -> dict[str, Any]:
    """Every configuration of one model, rounds interleaved: {config: [tok/s per round]}, bandwidths, bytes."""
    from transformers import AutoModelForCausalLM

    from desktop_sae.core.engine.benchmark import _bandwidth, _engine_run, _hf_run, bytes_per_token
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.engine.session import Session
    from desktop_sae.core.steering.specs import NO_STEERING, SteeringConfig, SteerSpec

    steer = SteeringConfig(tuple(SteerSpec(f, 4.0) for f in STEERED))
    gemma = cfg["model_type"] == "gemma3_text"
    layer = cfg["num_hidden_layers"] // 2
    ids = [1, *[(7 + 37 * i) % (cfg["vocab_size"] - 3) + 3 for i in range(a.prompt - 1)]]
    runs: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    for dt in ("bfloat16", "int8"):
        lm = load_model(str(folder), dtype=dt)
        facts[f"bytes_per_token_{dt}"] = bytes_per_token(lm.model)
        facts[f"engine_{dt}"] = f"{type(lm.model).__name__} [{getattr(lm.model, 'row_kernel', 'transformers')}]"
        sae = random_sae(cfg["hidden_size"], layer, gemma)
        runs[f"lite {dt}"] = (_engine_run, Session(lm), NO_STEERING)
        runs[f"lite {dt} + SAE + 3 steered"] = (_engine_run, Session(lm, sae), steer)
    for dt in (torch.float32, torch.bfloat16):
        hf: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dt).eval()
        runs[f"transformers generate {str(dt).removeprefix('torch.')}"] = (_hf_run, hf, None)
    facts["params"] = sum(p.numel() for p in hf.parameters())
    raw: dict[str, list[float]] = {k: [] for k in runs}
    raw["bandwidth_bytes_s"] = []
    with torch.inference_mode():
        for fn, obj, st in runs.values():  # warm-up: kernels, page faults, caches
            fn(obj, ids, 2, st) if st is not None else fn(obj, ids, 2)
        for r in range(a.rounds):
            raw["bandwidth_bytes_s"].append(_bandwidth(torch.device("cpu")))
            for k, (fn, obj, st) in runs.items():
                raw[k].append(fn(obj, ids, a.tokens, st) if st is not None else fn(obj, ids, a.tokens))
            print(f"  round {r + 1}/{a.rounds}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in raw.items()
                                                             if k != "bandwidth_bytes_s"), flush=True)
    return {"facts": facts, "raw": raw, "sae": {"features": D_SAE, "architecture": "jumprelu" if gemma else "topk",
                                                 "hook": f"blocks.{layer}.hook_resid_post", "steered": list(STEERED)}}


def summarise(res: dict[str, Any]) -> dict[str, Any]:
    bw = max(b for m in res["models"].values() for b in m["raw"]["bandwidth_bytes_s"])
    out: dict[str, Any] = {
        "statistic": "tok/s: median over rounds (batch 1, greedy, configurations interleaved per round); "
                     "bandwidth: best streaming read of the run; limits = bandwidth / bytes one step reads",
        "bandwidth_gb_s_best": round(bw / 1e9, 2), "tokens": res["tokens"], "prompt_tokens": res["prompt"],
        "rounds": res["rounds"], "threads": res["threads"], "models": {}}
    rows = ["| model | params | lite bf16 | lite int8 | bf16 limit | int8 limit | generate fp32 | generate bf16 | "
            "SAE+3 steered cost bf16 / int8 |", "|---|---|---|---|---|---|---|---|---|"]
    for name, m in res["models"].items():
        med = {k: statistics.median(v) for k, v in m["raw"].items() if k != "bandwidth_bytes_s"}
        f = m["facts"]
        s = {"params_millions": round(f["params"] / 1e6, 1),
             "tok_s_median": {k: round(v, 2) for k, v in med.items()},
             "bandwidth_limit_tok_s": {dt: round(bw / f[f"bytes_per_token_{dt}"], 2) for dt in ("bfloat16", "int8")},
             "bytes_per_token_mb": {dt: round(f[f"bytes_per_token_{dt}"] / 1e6, 1) for dt in ("bfloat16", "int8")},
             "sae_steer_cost_pct": {dt: round(100 * (med[f"lite {dt}"] / med[f"lite {dt} + SAE + 3 steered"] - 1), 1)
                                    for dt in ("bfloat16", "int8")},
             "lite_bfloat16_vs_generate": {dt: round(med["lite bfloat16"] / med[f"transformers generate {dt}"], 2)
                                           for dt in ("float32", "bfloat16")}}
        s["share_of_limit"] = {dt: round(med[f"lite {dt}"] / s["bandwidth_limit_tok_s"][dt], 2)
                               for dt in ("bfloat16", "int8")}
        out["models"][name] = s
        t, lim, c = s["tok_s_median"], s["bandwidth_limit_tok_s"], s["sae_steer_cost_pct"]
        rows.append(f"| {name} | {s['params_millions']:.0f} M | {t['lite bfloat16']:.1f} | {t['lite int8']:.1f} | "
                    f"{lim['bfloat16']:.1f} | {lim['int8']:.1f} | {t['transformers generate float32']:.1f} | "
                    f"{t['transformers generate bfloat16']:.1f} | {c['bfloat16']:+.1f} % / {c['int8']:+.1f} % |")
    out["table"] = "\n".join(rows)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=None, help="short names (default: all four)")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--prompt", type=int, default=64, help="prompt length in tokens")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    ap.add_argument("--work", default="/tmp/desktop-sae-real-shapes", help="where the random-weight folders live")
    ap.add_argument("--quick", action="store_true", help="real shapes, 1 round of 4 tokens: checks the script")
    _bench.add_args(ap, DEFAULT)
    a = ap.parse_args()
    load_before = _bench.start()
    if a.smoke or a.quick:
        a.tokens, a.rounds, a.prompt = 4, 1, 16
    if a.threads:
        torch.set_num_threads(a.threads)
    from desktop_sae.core.engine.step_threads import GOVERNOR

    GOVERNOR.enabled = False  # every step on all threads, as transformers' generate() runs
    cfgs = configs(a.smoke)
    names = a.models or list(cfgs)
    work = Path(a.work) / ("smoke" if a.smoke else "real")
    res: dict[str, Any] = {"tokens": a.tokens, "prompt": a.prompt, "rounds": a.rounds,
                           "threads": torch.get_num_threads(), "quick": a.quick, "models": {}}
    for name in names:
        t = time.perf_counter()
        folder = write_folder(work / name, cfgs[name])
        print(f"{name}: folder ready in {time.perf_counter() - t:.1f} s", flush=True)
        res["models"][name] = measure_model(folder, cfgs[name], a)
    summary = {**summarise(res), "load_average_1min": {"before": load_before, "after": _bench.start()}}
    print(summary["table"])
    _bench.write(a, None if a.quick else DEFAULT, summary, res, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
