"""SAE quality on held-out text (docs/MATHS.md, "Evaluation and the feature dictionary"): L0, explained variance,
dead fraction, CE loss recovered and delta loss. BOS positions are neither spliced nor scored as targets (the SAE
never sees them)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from ..engine.hooks import hooks
from ..support.atomic import atomic_write_text
from ..support.errors import Cancelled

if TYPE_CHECKING:
    from ..sae.autoencoder import SAE

EVAL_FILE = "eval.json"


class ReconAccumulator:
    """Streaming L0 / FVU / firing counts over batches of (x, x_hat, acts)."""

    def __init__(self, d_sae: int) -> None:
        self.n, self.sq_err, self.sum_sq = 0, 0.0, 0.0
        self.sum_x: torch.Tensor | None = None
        self.active = 0
        self.fired = np.zeros(d_sae, dtype=np.int64)

    def add(self, x: torch.Tensor, x_hat: torch.Tensor, acts: torch.Tensor) -> None:
        x, x_hat = x.double(), x_hat.double()
        self.n += len(x)
        self.sq_err += float((x - x_hat).pow(2).sum())
        self.sum_x = x.sum(0) if self.sum_x is None else self.sum_x + x.sum(0)
        self.sum_sq += float(x.pow(2).sum())
        on = acts > 0
        self.active += int(on.sum())
        self.fired += on.sum(0).cpu().numpy().astype(np.int64)

    def result(self) -> dict[str, float]:
        assert self.sum_x is not None, "no batch was added"
        total_var = self.sum_sq - float(self.sum_x.pow(2).sum()) / self.n
        fvu = self.sq_err / total_var
        return {"tokens": self.n, "l0": self.active / self.n, "fvu": fvu, "explained_variance": 1 - fvu,
                "mse": self.sq_err / self.n, "dead_fraction": float((self.fired == 0).mean())}


def _ce(logits: torch.Tensor, ids: torch.Tensor, bos_id: int) -> tuple[float, int]:
    tgt = ids[:, 1:]
    mask = tgt != bos_id
    lp = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none")
    return float(lp[mask.reshape(-1)].sum()), int(mask.sum())


@torch.inference_mode()
def evaluate(model: Any, sae: SAE, contexts: np.ndarray, hook_name: str, bos_id: int, batch_size: int = 8,
             max_tokens: int = 32_768, progress: Callable[[float, str], None] | None = None,
             cancel: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Run held-out contexts clean, with the SAE reconstruction spliced in, and with the hook zero-ablated.
    Token ids go to the model's device; the SAE may live on another device (its inputs/outputs are moved).
    ``progress(fraction, message)`` follows each batch; ``cancel()`` is checked before each of the batch's three
    forward passes and raises Cancelled. ``model`` is a transformers causal LM (Any: no useful static type)."""
    dev = next(model.parameters()).device
    sae_dev = getattr(sae, "device", dev)
    n_ctx = min(len(contexts), max(1, -(-max_tokens // contexts.shape[1])))
    limit = float(getattr(sae.cfg, "metadata", {}).get("outlier_norm_threshold") or "inf")
    n_outliers = 0
    acc = ReconAccumulator(sae.cfg.d_sae)
    ce = {"clean": [0.0, 0], "sae": [0.0, 0], "zero": [0.0, 0]}
    t0 = time.time()
    for c in range(0, n_ctx, batch_size):
        if cancel is not None and cancel():
            raise Cancelled("evaluation was cancelled")
        ids = torch.from_numpy(contexts[c : min(c + batch_size, n_ctx)].astype(np.int64)).to(dev)
        keep = ids != bos_id
        # the three hooks below run during this iteration and share its `keep` (which `clean` narrows): B023 is moot

        def clean(x: torch.Tensor) -> None:
            nonlocal keep, n_outliers
            big = x.float().norm(dim=-1) > limit  # attention-sink rows: left alone like BOS
            n_outliers += int((big & keep).sum())
            keep = keep & ~big

        def splice(x: torch.Tensor) -> torch.Tensor:
            out = x.clone()
            xs = x[keep]  # noqa: B023
            recon, acts = sae(xs.to(device=sae_dev, dtype=sae.dtype))
            recon = recon.to(x.device)  # no-op when the SAE sits beside the model
            acc.add(xs.float(), recon.float(), acts.float())
            out[keep] = recon.to(x.dtype)  # noqa: B023
            return out

        def zero(x: torch.Tensor) -> torch.Tensor:
            out = x.clone()
            out[keep] = 0  # noqa: B023
            return out

        for name, fn in (("clean", clean), ("sae", splice), ("zero", zero)):
            if name != "clean" and cancel is not None and cancel():  # each pass runs the whole model
                raise Cancelled("evaluation was cancelled")
            with hooks(model, {hook_name: fn}):
                logits = model(input_ids=ids, use_cache=False).logits
            s, n = _ce(logits, ids, bos_id)
            ce[name][0] += s
            ce[name][1] += n
        if progress:
            done = min(c + batch_size, n_ctx)
            progress(done / n_ctx, f"{done}/{n_ctx} contexts")
    clean_, sae_, zero_ = (ce[k][0] / max(ce[k][1], 1) for k in ("clean", "sae", "zero"))
    out: dict[str, Any] = acc.result()
    out.update({"ce_clean": clean_, "ce_sae": sae_, "ce_zero_ablation": zero_, "delta_loss": sae_ - clean_,
                "ce_loss_recovered": (zero_ - sae_) / (zero_ - clean_) if zero_ != clean_ else float("nan"),
                "outlier_tokens_skipped": n_outliers,
                "outlier_norm_threshold": limit if limit != float("inf") else None,
                "hook_name": hook_name, "contexts": n_ctx, "context_len": int(contexts.shape[1]),
                "seconds": round(time.time() - t0, 1)})
    return out


def write_eval(folder: str | Path, result: dict[str, Any]) -> Path:
    p = Path(folder) / EVAL_FILE
    atomic_write_text(p, json.dumps(result, indent=1))
    return p
