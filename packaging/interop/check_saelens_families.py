"""Do Gemma Scope 2, Qwen Scope and mwhanna's transcoders open in Desktop SAE exactly as SAELens opens them?

Writes a random-weight SAE of each family in its released on-disk layout (tests/sae_family_fixtures.py, at the
real models' widths: Gemma 3 270M 640 (1 024 for the attention heads), Qwen3-1.7B 2 048, Qwen3-0.6B 1 024) under a
hub-like folder, loads it with SAELens's own pretrained path (``SAE.from_pretrained_with_cfg_and_sparsity(release,
sae_id)``: its ``pretrained_saes.yaml`` entry, its named loader, its config and its class) with the two hub calls
those loaders make answered from that folder (nothing is downloaded), and with ours (``core.sae.formats.load_sae``
on the same files), and compares on 2 048 random inputs: the features (``encode``) and the output (``forward``:
the reconstruction, or a transcoder's output with its skip path) must agree to 1e-5 of the largest value, and the
hooks and model name must be the same. Runs where sae-lens is installed (packaging/interop/README.md):

  HF_HUB_OFFLINE=1 PYTHONPATH=. /tmp/saelens-venv/bin/python packaging/interop/check_saelens_families.py \
      --json docs/results/interop/check_saelens_families.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-5  # relative to the largest magnitude in the compared tensors


def serve_hub_from(root: Path) -> None:
    """Answer SAELens's loaders' hub calls (file download, safetensors header) from ``root/<repo_id>/...``."""
    from huggingface_hub.utils import EntryNotFoundError
    from sae_lens.loading import pretrained_sae_loaders as loaders
    from safetensors import safe_open

    def download(repo_id: str, filename: str, subfolder: str | None = None, **_: object) -> str:
        path = root / repo_id / (subfolder or "") / filename
        if not path.is_file():
            raise EntryNotFoundError(f"{repo_id}: no {filename} (local fixture)")
        return str(path)

    def shapes(repo_id: str, filename: str) -> dict[str, list[int]]:
        with safe_open(download(repo_id, filename), framework="pt") as f:
            return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}

    loaders.hf_hub_download = download
    loaders.get_safetensors_tensor_shapes = shapes


def compare(family, root: Path, rows: int) -> dict:
    from sae_lens import SAE as LENS_SAE

    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.sae.sae_config import app_hook_name
    from sae_family_fixtures import INPUT_SCALE

    path, _raw = family.write(root, True)
    lens, cfg_dict, _ = LENS_SAE.from_pretrained_with_cfg_and_sparsity(family.release, family.sae_id, device="cpu")
    ours = load_sae(path)
    x = torch.randn(rows, ours.cfg.d_in, generator=torch.Generator().manual_seed(0)) * INPUT_SCALE
    with torch.no_grad():
        a_ours, a_lens = ours.encode(x), lens.encode(x)
        y_ours, y_lens = ours(x)[0], lens(x)
    meta = cfg_dict["metadata"]
    lens_hooks = (app_hook_name(meta["hook_name"]), app_hook_name(meta.get("hook_name_out") or meta["hook_name"]))
    rec = {"family": family.name, "release": family.release, "sae_id": family.sae_id,
           "files": str(path.relative_to(root)), "saelens_class": type(lens).__name__,
           "saelens_architecture": cfg_dict["architecture"], "architecture": ours.cfg.architecture,
           "hooks": [ours.input_hook, ours.output_hook],
           "saelens_hooks": [meta["hook_name"], meta.get("hook_name_out")],
           "model_name": ours.cfg.model_name, "saelens_model_name": meta["model_name"],
           "d_in": ours.cfg.d_in, "d_sae": ours.cfg.d_sae, "d_out": ours.output_width, "rows": rows,
           "max_abs_feature": float(a_lens.abs().max()), "max_abs_output": float(y_lens.abs().max()),
           "max_abs_diff_features": float((a_ours - a_lens).abs().max()),
           "max_abs_diff_output": float((y_ours - y_lens).abs().max()),
           "active_flags_agree": float(((a_ours > 0) == (a_lens > 0)).float().mean()),
           "mean_active_per_row": float((a_lens > 0).sum(1).float().mean())}
    rec["hooks_agree"] = lens_hooks == (ours.input_hook, ours.output_hook)
    rec["model_name_agrees"] = meta["model_name"] == ours.cfg.model_name
    rec["ok"] = (rec["hooks_agree"] and rec["model_name_agrees"]
                 and rec["max_abs_diff_features"] <= TOL * max(rec["max_abs_feature"], 1.0)
                 and rec["max_abs_diff_output"] <= TOL * max(rec["max_abs_output"], 1.0))
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=None, help="write the results file here")
    ap.add_argument("--rows", type=int, default=2048)
    a = ap.parse_args(argv)
    import sae_lens

    sys.path.insert(0, str(ROOT / "tests"))
    from desktop_sae.core.support.results_file import load_average, write_results
    from sae_family_fixtures import FAMILIES

    load = load_average()
    results = []
    for family in FAMILIES:
        with tempfile.TemporaryDirectory() as tmp:  # one at a time: the Qwen Scope file alone is 0.5 GB
            serve_hub_from(Path(tmp))
            results.append(compare(family, Path(tmp), a.rows))
        r = results[-1]
        print(f"{'ok ' if r['ok'] else 'BAD'} {r['family']:32s} {r['saelens_class']:22s} {r['d_in']}->{r['d_sae']}"
              f"->{r['d_out']}  features {r['max_abs_diff_features']:.2e} (max {r['max_abs_feature']:.3g})  "
              f"output {r['max_abs_diff_output']:.2e} (max {r['max_abs_output']:.3g})  hooks {r['hooks']}")
    passed = sum(r["ok"] for r in results)
    summary = {"families_passed": f"{passed}/{len(results)}", "rows": a.rows, "tolerance_relative": TOL,
               "worst_relative_diff": max(max(r["max_abs_diff_features"] / max(r["max_abs_feature"], 1.0),
                                              r["max_abs_diff_output"] / max(r["max_abs_output"], 1.0))
                                          for r in results)}
    if a.json:
        args = argv if argv is not None else sys.argv[1:]
        write_results(a.json, {"summary": summary, "sae_lens": sae_lens.__version__, "torch": torch.__version__,
                               "results": results},
                      load_before=load, command=["python", "packaging/interop/check_saelens_families.py", *args])
    print(f"SAELens {sae_lens.__version__}, torch {torch.__version__}: {passed}/{len(results)} families agree")
    print(json.dumps(summary))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
