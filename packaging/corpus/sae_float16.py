"""Copy an SAE folder with its weights stored in float16 (half the size; ``load_sae`` reads them as float32) and
print the folder's size in bytes per file.

Usage: python packaging/corpus/sae_float16.py SAE_DIR OUT_DIR
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file


def main(argv=None) -> int:
    src, out = (Path(p) for p in (argv or sys.argv[1:])[:2])
    out.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name not in ("sae_weights.safetensors", "cfg.json"):
            shutil.copy2(f, out / f.name)
    weights = load_file(src / "sae_weights.safetensors")
    tensors = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    save_file(tensors, str(out / "sae_weights.safetensors"))
    cfg = json.loads((src / "cfg.json").read_text())
    (out / "cfg.json").write_text(json.dumps({**cfg, "dtype": "float16"}, indent=2) + "\n")
    sizes = {f.name: f.stat().st_size for f in sorted(out.iterdir()) if f.is_file()}
    print(json.dumps({"files": sizes, "total": sum(sizes.values())}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
