"""Copy a trained depth SAE into the shipped form (docs/ATTRIBUTION.md, "Depth SAEs"): float16 weights, and a
dictionary trimmed to ``--top`` max-activating examples per feature (plus its quantile examples) with token ids
stored as uint16 when the vocabulary fits. Prints the folder's size per file.

Usage: python packaging/attribution/package_depth_sae.py TRAINED_DIR OUT_DIR [--top 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file as load_np
from safetensors.numpy import save_file as save_np
from safetensors.torch import load_file, save_file

KEEP = ("cfg.json", "dictionary.json", "eval.json", "feature_stats.safetensors", "heldout_tokens.npz")


def trim_dictionary(arrays: dict[str, np.ndarray], top: int) -> dict[str, np.ndarray]:
    """Keep each feature's first ``top`` max-activating examples, followed (as the reader expects) by all its
    quantile examples."""
    count = arrays["ex_count"]
    n_q_max = int(count[:, 1].max())
    width = min(top, int(count[:, 0].max())) + n_q_max
    out = dict(arrays)
    new_count = count.copy()
    for key in ("ex_tokens", "ex_values", "ex_act"):
        out[key] = np.zeros((arrays[key].shape[0], width, *arrays[key].shape[2:]), arrays[key].dtype)
    for f in range(count.shape[0]):
        n_top, n_q = int(count[f, 0]), int(count[f, 1])
        t = min(n_top, top)
        cols = list(range(t)) + list(range(n_top, n_top + n_q))
        for key in ("ex_tokens", "ex_values", "ex_act"):
            out[key][f, : len(cols)] = arrays[key][f, cols]
        new_count[f, 0] = t
    out["ex_count"] = new_count
    if int(arrays["ex_tokens"].max()) < 2**16:
        out["ex_tokens"] = out["ex_tokens"].astype(np.uint16)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--top", type=int, default=10)
    a = ap.parse_args(argv)
    src, out = Path(a.src), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in KEEP:
        if (src / name).exists() and name != "cfg.json":
            shutil.copy2(src / name, out / name)
    weights = load_file(src / "sae_weights.safetensors")
    save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()},
              str(out / "sae_weights.safetensors"))
    cfg = json.loads((src / "cfg.json").read_text())
    (out / "cfg.json").write_text(json.dumps({**cfg, "dtype": "float16"}, indent=2) + "\n")
    save_np(trim_dictionary(load_np(str(src / "dictionary.safetensors")), a.top), str(out / "dictionary.safetensors"))
    sizes = {f.name: f.stat().st_size for f in sorted(out.iterdir()) if f.is_file()}
    print(json.dumps({"files": sizes, "total": sum(sizes.values())}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
