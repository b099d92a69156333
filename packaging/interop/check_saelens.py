"""Do SAEs written by Desktop SAE open in SAELens, and do both compute the same thing?

Loads (a) the bundled SAE folder, (b) a tiny TopK SAE freshly trained by our trainer and written by
``core.sae.formats.save_sae``, and (c) random SAEs of the other architectures and input normalisations our writer
handles, each with SAELens's own loader (``SAE.load_from_disk``) and with ours, and compares encode and decode on
random inputs of the hook's typical scale (max abs difference). Runs in a separate environment with sae-lens
installed and this repository on PYTHONPATH (packaging/interop/README.md); exits 1 if a check fails.

  PYTHONPATH=. /work/saelens-env/bin/python packaging/interop/check_saelens.py [--json out.json]
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


def compare(folder: Path, x: torch.Tensor) -> dict:
    from sae_lens import SAE as LENS_SAE

    from desktop_sae.core.sae.formats import load_sae

    ours = load_sae(folder)
    lens = LENS_SAE.load_from_disk(str(folder), device="cpu")
    with torch.no_grad():
        a_ours, a_lens = ours.encode(x), lens.encode(x)
        r_ours = ours.decode(a_ours, like=x)
        r_cross = lens.decode(a_ours)  # SAELens's decoder on our activations (isolates decode from encode)
        lens.encode(x)  # SAELens keeps the input's norm statistics from encode for the next decode
        r_lens = lens.decode(a_lens)
    d_acts = float((a_ours - a_lens).abs().max())
    d_recon = float((r_ours - r_lens).abs().max())
    d_decode = float((r_ours - r_cross).abs().max())
    scale_a, scale_r = float(a_ours.abs().max()), float(r_ours.abs().max())
    ok = d_acts <= TOL_ACTS * max(scale_a, 1.0) and d_recon <= TOL_RECON * max(scale_r, 1.0)
    return {"folder": str(folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder.name),
            "saelens_class": type(lens).__name__, "architecture": ours.cfg.architecture,
            "normalize_activations": ours.cfg.normalize_activations, "d_in": ours.cfg.d_in, "d_sae": ours.cfg.d_sae,
            "rows": len(x), "max_abs_act": scale_a, "max_abs_recon": scale_r, "max_abs_diff_encode": d_acts,
            "max_abs_diff_decode_same_acts": d_decode, "max_abs_diff_reconstruction": d_recon,
            "same_active_features": bool(((a_ours > 0) == (a_lens > 0)).float().mean() > 0.999), "ok": ok}


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--rows", type=int, default=2048)
    a = ap.parse_args(argv)
    import sae_lens

    torch.manual_seed(0)
    results = []
    bundled = ROOT / "resources" / "sae" / "smollm2-135m-instruct"
    meta = json.loads((bundled / "cfg.json").read_text())
    from desktop_sae.core.sae.formats import load_sae

    b_dec = load_sae(bundled).b_dec.detach()
    results.append(compare(bundled, inputs(meta["d_in"], a.rows, meta["metadata"].get("typical_norm", 150.0), b_dec)))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results.append(compare(trained_tiny(tmp / "trained-topk"), inputs(64, a.rows, 25.0, torch.full((64,), 3.0))))
        for folder in random_saes(tmp):
            results.append(compare(folder, inputs(64, a.rows, 8.0)))
    for r in results:
        print(f"{'ok ' if r['ok'] else 'BAD'} {r['folder'][:60]:60s} {r['saelens_class']:12s} "
              f"encode {r['max_abs_diff_encode']:.2e} (max |a| {r['max_abs_act']:.3g})  "
              f"recon {r['max_abs_diff_reconstruction']:.2e} (max |x̂| {r['max_abs_recon']:.3g})")
    summary = {"sae_lens": sae_lens.__version__, "torch": torch.__version__, "results": results}
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"SAELens {sae_lens.__version__}, torch {torch.__version__}: "
          f"{sum(r['ok'] for r in results)}/{len(results)} SAEs agree")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
