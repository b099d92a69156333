"""Do SAEs written by Desktop SAE open in SAELens, and do both compute the same thing?

Loads (a) the bundled SAE folder (twice in SAELens: asked for float32, as our loader reads it, and in its default,
the float16 its cfg.json names), (b) a tiny TopK SAE freshly trained by our trainer and written by
``core.sae.formats.save_sae``, and (c) random SAEs of the other architectures and input normalisations our writer
handles, each with SAELens's own loader (``SAE.load_from_disk``) and with ours, and compares encode and decode on
random inputs of the hook's typical scale (max abs difference). Runs in a separate environment with sae-lens
installed and this repository on PYTHONPATH (packaging/interop/README.md); exits 1 if a check fails.

  PYTHONPATH=. /tmp/saelens-venv/bin/python packaging/interop/check_saelens.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TOL_ACTS, TOL_RECON = 1e-3, 1e-3  # relative to the largest magnitude in the compared tensors


def _agreement(a_ref: torch.Tensor, r_ref: torch.Tensor, a: torch.Tensor, r: torch.Tensor) -> dict:
    """How closely (a, r) follow the reference activations and reconstructions."""
    flags = (a_ref > 0) == (a > 0)
    rel = (r - r_ref).norm(dim=1) / r_ref.norm(dim=1).clamp_min(1e-12)
    return {"max_abs_diff_encode": float((a_ref - a).abs().max()),
            "max_abs_diff_reconstruction": float((r_ref - r).abs().max()),
            "active_flags_agree": float(flags.float().mean()),
            "rows_same_active_set": float(flags.all(1).float().mean()),
            "recon_rel_err_median": float(rel.median()), "recon_rel_err_max": float(rel.max())}


def compare(folder: Path, x: torch.Tensor, lens_dtype: str | None = None) -> dict:
    """Ours against SAELens on ``x``; SAELens loads in ``lens_dtype`` (None: the dtype its cfg.json names).

    In float32 both must agree to 1e-3 of the largest value. In a lower precision (SAELens computes in the dtype
    it loads, float16 for the shipped SAE) latents at the TopK boundary swap, so the check is on the share of
    on/off flags that agree (>= 0.999) and the median relative reconstruction error (<= 1e-3); as a yardstick the
    record also holds our float32 SAE run on the input rounded to that dtype."""
    from sae_lens import SAE as LENS_SAE

    from desktop_sae.core.sae.formats import load_sae

    ours = load_sae(folder)
    lens = LENS_SAE.load_from_disk(str(folder), device="cpu", dtype=lens_dtype)
    dt = lens.W_dec.dtype
    with torch.no_grad():
        a_ours, a_lens = ours.encode(x), lens.encode(x.to(dt)).float()
        r_ours = ours.decode(a_ours, like=x)
        r_cross = lens.decode(a_ours.to(dt)).float()  # SAELens's decoder on our activations (decode alone)
        lens.encode(x.to(dt))  # SAELens keeps the input's norm statistics from encode for the next decode
        r_lens = lens.decode(a_lens.to(dt)).float()
        agree = _agreement(a_ours, r_ours, a_lens, r_lens)
        scale_a, scale_r = float(a_ours.abs().max()), float(r_ours.abs().max())
        rec = {"folder": str(folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder.name),
               "saelens_class": type(lens).__name__, "saelens_dtype": str(dt).removeprefix("torch."),
               "architecture": ours.cfg.architecture, "normalize_activations": ours.cfg.normalize_activations,
               "d_in": ours.cfg.d_in, "d_sae": ours.cfg.d_sae, "rows": len(x), "max_abs_act": scale_a,
               "max_abs_recon": scale_r, "max_abs_diff_decode_same_acts": float((r_ours - r_cross).abs().max()),
               **agree}
        if dt == torch.float32:
            rec["ok"] = (agree["max_abs_diff_encode"] <= TOL_ACTS * max(scale_a, 1.0)
                         and agree["max_abs_diff_reconstruction"] <= TOL_RECON * max(scale_r, 1.0))
        else:
            x_low = x.to(dt).float()
            a_low = ours.encode(x_low)
            rec["ours_on_input_rounded_to_" + rec["saelens_dtype"]] = _agreement(
                a_ours, r_ours, a_low, ours.decode(a_low, like=x))
            rec["ok"] = agree["active_flags_agree"] >= 0.999 and agree["recon_rel_err_median"] <= TOL_RECON
    return rec


def inputs(d_in: int, n: int, scale: float, b_dec: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=g) * scale / d_in**0.5
    return x + (b_dec if b_dec is not None else 0)


def trained_tiny(folder: Path) -> Path:
    """A TopK SAE (64 -> 256, k 8) trained for 40 steps on structured random data, saved by save_sae."""
    from desktop_sae.core.sae.formats import save_sae
    from desktop_sae.core.training.trainer import TopKTrainer, TrainConfig

    g = torch.Generator().manual_seed(1)
    dirs = torch.nn.functional.normalize(torch.randn(512, 64, generator=g), dim=-1)
    def batch(n):
        codes = torch.rand(n, 512, generator=g) * (torch.rand(n, 512, generator=g) < 0.02)
        return codes @ dirs * 20 + 3.0

    tr = TopKTrainer(64, TrainConfig(d_sae=256, k=8, batch_size=512, total_tokens=40 * 512, b_dec_init="mean"))
    tr.init_from_sample(batch(4096))
    for _ in range(40):
        tr.step(batch(512))
    save_sae(tr.to_sae(hook_name="blocks.1.hook_resid_post", model_name="tiny-llama"), folder)
    return folder


def random_saes(root: Path) -> list[Path]:
    """save_sae on random SAEs of every architecture and input normalisation our writer supports."""
    sys.path.insert(0, str(ROOT / "tests"))
    from desktop_sae.core.sae.formats import save_sae
    from tiny import random_sae

    out = []
    cases = [("standard", {}), ("jumprelu", {}), ("gated", {}), ("topk", {"rescale_acts_by_decoder_norm": True}),
             ("topk", {"normalize_activations": "constant_norm_rescale"}),
             ("standard", {"normalize_activations": "layer_norm"}),
             ("topk", {"normalize_activations": "expected_average_only_in", "scaling_factor": 0.25}),
             ("standard", {"apply_b_dec_to_input": False})]
    for i, (arch, kw) in enumerate(cases):
        folder = root / f"{i}-{arch}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'plain'}"
        save_sae(random_sae(d_in=64, d_sae=256, arch=arch, k=8, seed=i, **kw), folder)
        out.append(folder)
    return out


def summarise(results: list[dict]) -> dict:
    """The few figures the docs quote, computed from the per-SAE results."""
    bundled, half = results[0], results[1]
    others = results[3:]
    worst = max(others, key=lambda r: r["max_abs_diff_reconstruction"])
    rest = [r for r in others if r is not worst]
    base = half.get(f"ours_on_input_rounded_to_{half['saelens_dtype']}", {})
    return {"checks_passed": f"{sum(r['ok'] for r in results)}/{len(results)}",
            "bundled_d_sae": bundled["d_sae"],
            "bundled_float32_max_abs_diff_encode": bundled["max_abs_diff_encode"],
            "bundled_float32_max_abs_diff_reconstruction": bundled["max_abs_diff_reconstruction"],
            "bundled_default_dtype": half["saelens_dtype"],
            "bundled_default_active_flags_agree_pct": 100 * half["active_flags_agree"],
            "bundled_default_rows_same_active_set_pct": 100 * half["rows_same_active_set"],
            "bundled_default_recon_rel_err_median": half["recon_rel_err_median"],
            "bundled_default_recon_rel_err_max": half["recon_rel_err_max"],
            "bundled_default_max_abs_diff_encode": half["max_abs_diff_encode"],
            "bundled_max_abs_act": half["max_abs_act"],
            "ours_on_rounded_input_rows_same_active_set_pct": 100 * base.get("rows_same_active_set", float("nan")),
            "ours_on_rounded_input_recon_rel_err_median": base.get("recon_rel_err_median"),
            "ours_on_rounded_input_max_abs_diff_encode": base.get("max_abs_diff_encode"),
            "trained_max_abs_diff_reconstruction": results[2]["max_abs_diff_reconstruction"],
            "random_worst_folder": worst["folder"],
            "random_worst_max_abs_diff_reconstruction": worst["max_abs_diff_reconstruction"],
            "random_worst_max_abs_recon": worst["max_abs_recon"],
            "random_others_max_abs_diff": max(max(r["max_abs_diff_encode"], r["max_abs_diff_reconstruction"])
                                              for r in rest)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=None, help="write the results file here")
    ap.add_argument("--rows", type=int, default=2048)
    a = ap.parse_args(argv)
    import sae_lens

    from desktop_sae.core.support.results_file import load_average, write_results

    load = load_average()
    torch.manual_seed(0)
    results = []
    bundled = ROOT / "resources" / "sae" / "smollm2-135m-instruct"
    meta = json.loads((bundled / "cfg.json").read_text())
    from desktop_sae.core.sae.formats import load_sae

    b_dec = load_sae(bundled).b_dec.detach()
    x = inputs(meta["d_in"], a.rows, meta["metadata"].get("typical_norm", 150.0), b_dec)
    results.append(compare(bundled, x, "float32"))  # SAELens asked for float32, as our loader reads it
    results.append(compare(bundled, x))  # SAELens's default: the dtype cfg.json names (float16 for the shipped SAE)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results.append(compare(trained_tiny(tmp / "trained-topk"), inputs(64, a.rows, 25.0, torch.full((64,), 3.0))))
        for folder in random_saes(tmp):
            results.append(compare(folder, inputs(64, a.rows, 8.0)))
    for r in results:
        print(f"{'ok ' if r['ok'] else 'BAD'} {r['folder'][:60]:60s} {r['saelens_class']:12s} "
              f"encode {r['max_abs_diff_encode']:.2e} (max |a| {r['max_abs_act']:.3g})  "
              f"recon {r['max_abs_diff_reconstruction']:.2e} (max |x̂| {r['max_abs_recon']:.3g})")
    if a.json:
        args = argv if argv is not None else sys.argv[1:]
        write_results(a.json, {"summary": summarise(results), "sae_lens": sae_lens.__version__,
                               "torch": torch.__version__, "results": results},
                      load_before=load, command=["python", "packaging/interop/check_saelens.py", *args])
    print(f"SAELens {sae_lens.__version__}, torch {torch.__version__}: "
          f"{sum(r['ok'] for r in results)}/{len(results)} checks pass")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
