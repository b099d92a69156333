"""The hook that sits at the SAE's hook point during generation: it encodes, steers and records, all inside
the model's own forward pass (no second pass)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .hooks import StopForward
from .sae import SAE
from .steering import SteeringPlan, steering_delta


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
        x_n, _, _ = sae._norm_in(x)
        pre = sae.pre_activations(x_n)
        acts = sae.activation(pre) if (plan.clamp_idx is not None or plan.empty) else None
        out = None
        if not plan.empty:
            mask = None if self.mask is None else self.mask[..., None].to(x.dtype)
            delta, shift = steering_delta(x, acts, plan, sae, mask)
            out = x + delta
            if self.record:
                if shift is not None:
                    acts = sae.activation(pre + shift)
                else:
                    acts = sae.activation(sae.pre_activations(sae._norm_in(out)[0]))
        if self.record:
            a = acts[0]
            vals, ids = a.topk(self.top_k, dim=-1) if self.top_k else (None, None)
            watched = a[:, self.watch] if self.watch is not None else None
            self.last = TapRecord(ids, vals, watched, (out if out is not None else x)[0].float().norm(dim=-1))
        return out
