"""The hook that sits at the SAE's hook point during generation: it encodes, steers and records, all inside
the model's own forward pass (no second pass)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..sae.autoencoder import SAE
from ..steering.plan import SteeringPlan, plan_delta
from .hooks import StopForward


@dataclass
class TapRecord:
    """What one forward pass recorded, for the positions it processed ([T, ...] tensors, batch row 0)."""

    top_ids: torch.Tensor | None
    top_vals: torch.Tensor | None
    watched: torch.Tensor | None
    norms: torch.Tensor


class SAETap:
    def __init__(self, sae: SAE | None, plan: SteeringPlan, watch=(), top_k: int = 10):
        self.sae = sae
        self.plan = plan
        self.top_k = min(top_k, sae.cfg.d_sae) if sae is not None else 0
        dev = sae.device if sae is not None else None
        self.watch = torch.tensor(list(watch), dtype=torch.long, device=dev) if (sae is not None and watch) else None
        self.mask: torch.Tensor | None = None  # [B, T] 1 = steer this position, set before each forward
        self.last: TapRecord | None = None
        self.record = True
        self.stop_after = False  # raise StopForward after this call (the last token needs no logits)

    def __call__(self, x: torch.Tensor) -> torch.Tensor | None:
        out = self._process(x)
        if self.stop_after:
            raise StopForward
        return out

    def _process(self, x: torch.Tensor) -> torch.Tensor | None:
        sae, plan = self.sae, self.plan
        if sae is None:
            self.last = TapRecord(None, None, None, x[0].float().norm(dim=-1)) if self.record else None
            return None
        pre = sae.pre_activations(sae._norm_in(x)[0])
        out = None
        if not plan.empty:
            mask = None if self.mask is None else self.mask[..., None].to(x.dtype)
            kth = []  # TopK: the k-th largest pre-activation, computed once for the clamp values and conditions
            delta, shift = plan_delta(x, lambda idx: self._acts_of(pre, idx, kth), plan, sae, mask)
            if delta is not None:
                out = x + delta
                if self.record:
                    pre = pre + shift if shift is not None else sae.pre_activations(sae._norm_in(out)[0])
        if self.record:
            self.last = self._readout(pre, out if out is not None else x)
        return out

    def _acts_of(self, pre: torch.Tensor, idx: torch.Tensor, kth_cache: list | None = None) -> torch.Tensor:
        """Activations of a few features. TopK: a feature is active iff its pre-activation reaches the k-th
        largest, so no dense activation vector is built (``kth_cache`` keeps that k-th value between calls)."""
        sae = self.sae
        if sae.cfg.architecture == "topk":
            kth_cache = [] if kth_cache is None else kth_cache
            if not kth_cache:
                kth_cache.append(pre.topk(sae.cfg.k, dim=-1).values[..., -1:])
            kth = kth_cache[0]
            sel = pre[..., idx]
            return torch.where(sel >= kth, torch.relu(sel), torch.zeros_like(sel))
        return sae.activation(pre)[..., idx]

    def _readout(self, pre: torch.Tensor, resid: torch.Tensor) -> TapRecord:
        sae, n = self.sae, self.top_k
        p = pre[0]
        if sae.cfg.architecture == "topk":
            vals, ids = p.topk(sae.cfg.k, dim=-1)  # sorted: the first n are the strongest features
            kth = vals[..., -1:]
            top_vals, top_ids = torch.relu(vals[..., :n]), ids[..., :n]
            watched = None
            if self.watch is not None:
                w = p[..., self.watch]
                watched = torch.where(w >= kth, torch.relu(w), torch.zeros_like(w))
        else:
            a = sae.activation(p)
            top_vals, top_ids = a.topk(n, dim=-1)
            watched = a[..., self.watch] if self.watch is not None else None
        return TapRecord(top_ids, top_vals, watched, resid[0].float().norm(dim=-1))
