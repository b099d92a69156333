"""The hook that sits at the SAE's hook point during generation: it encodes, steers and records, all inside
the model's own forward pass (no second pass). A transcoder reads at one hook and writes at another: then the tap
is two hooks (``hook_fns``), one that encodes and records at the input and one that steers at the output, later in
the same layer, from the features the first one read.

In a batch each row may be steered by its own plan (``steer_rows``: a strength sweep, several prompts or seeds): the
rows that share a plan are steered together by the same ``plan_delta`` as a single answer, on their rows alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..sae.autoencoder import SAE, Memo
from ..steering.plan import SteeringPlan, plan_delta
from .hooks import HookFn, StopForward


@dataclass
class TapRecord:
    """What one forward pass recorded, for the positions it processed ([T, ...] tensors, batch row 0)."""

    top_ids: torch.Tensor | None
    top_vals: torch.Tensor | None
    watched: torch.Tensor | None
    norms: torch.Tensor


class SAETap:
    def __init__(self, sae: SAE | None, plan: SteeringPlan, watch: Sequence[int] = (), top_k: int = 10) -> None:
        self.sae = sae
        self.plan = plan
        self.top_k = min(top_k, sae.cfg.d_sae) if sae is not None else 0
        dev = sae.device if sae is not None else None
        self.watch = torch.tensor(list(watch), dtype=torch.long, device=dev) if (sae is not None and watch) else None
        self.mask: torch.Tensor | None = None  # [B, T] 1 = steer this position, set before each forward
        self.last: TapRecord | None = None
        self.record = True
        self.stop_after = False  # raise StopForward after this call (the last token needs no logits)
        self._read: torch.Tensor | None = None  # pre-activations read at the input, for the output hook (split)
        # steer_rows: (batch rows, their plan) per distinct non-empty plan; None: ``plan`` steers every row
        self.row_groups: list[tuple[torch.Tensor, SteeringPlan]] | None = None

    def steer_rows(self, plans: Sequence[SteeringPlan]) -> None:
        """Steer batch row ``i`` by ``plans[i]``: rows given the same plan object are steered together (all of them:
        by ``plan``, as a single answer is), rows with an empty plan are left as they are."""
        if plans and all(p is plans[0] for p in plans):
            self.plan, self.row_groups = plans[0], None
            return
        groups: dict[int, tuple[SteeringPlan, list[int]]] = {}
        for i, p in enumerate(plans):
            if not p.empty:
                groups.setdefault(id(p), (p, []))[1].append(i)
        dev = self.sae.device if self.sae is not None else None
        self.row_groups = [(torch.tensor(rows, dtype=torch.long, device=dev), p) for p, rows in groups.values()]

    @property
    def steers(self) -> bool:
        """Whether any row is steered."""
        return bool(self.row_groups) if self.row_groups is not None else not self.plan.empty

    def hook_fns(self, read_hook: str, write_hook: str | None = None) -> dict[str, HookFn]:
        """The hooks to install: this tap at ``read_hook``, or, when the SAE writes elsewhere (a transcoder's
        ``write_hook``), ``read`` at the one and ``write`` at the other."""
        if write_hook is None or write_hook == read_hook or self.sae is None:
            return {read_hook: self}
        return {read_hook: self.read, write_hook: self.write}

    def read(self, x: torch.Tensor) -> None:
        """Encode and record at the input hook of an SAE that writes elsewhere; steering happens in ``write``."""
        assert self.sae is not None  # hook_fns installs read/write only with an SAE
        self._read = self.sae.input_pre_activations(x)
        if self.record:  # steering at the output cannot change what was read here on these positions
            self.last = self._readout(self.sae, self._read, x)
        if self.stop_after:
            raise StopForward

    def write(self, x: torch.Tensor) -> torch.Tensor | None:
        """Steer at the output hook with the features ``read`` found on the same positions."""
        sae, pre, self._read = self.sae, self._read, None
        if sae is None or pre is None or not self.steers:
            return None
        delta, _shift = self._delta(sae, x, pre)
        return None if delta is None else x + delta

    def __call__(self, x: torch.Tensor) -> torch.Tensor | None:
        out = self._process(x)
        if self.stop_after:
            raise StopForward
        return out

    def _process(self, x: torch.Tensor) -> torch.Tensor | None:
        sae = self.sae
        if sae is None:
            self.last = TapRecord(None, None, None, x[0].float().norm(dim=-1)) if self.record else None
            return None
        pre = sae.input_pre_activations(x)
        out: torch.Tensor | None = None
        if self.steers:
            delta, shift = self._delta(sae, x, pre)
            if delta is not None:
                out = x + delta
                if self.record:
                    pre = pre + shift if shift is not None else sae.input_pre_activations(out)
        if self.record:
            self.last = self._readout(sae, pre, out if out is not None else x)
        return out

    def _delta(self, sae: SAE, x: torch.Tensor, pre: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``plan_delta`` of ``x`` [B, T, d] with the SAE's pre-activations ``pre`` on it: of ``plan`` on every row,
        or (``steer_rows``) of each group's plan on its rows (then without the pre-activation shift)."""
        mask = None if self.mask is None else self.mask[..., None].to(x.dtype)
        if self.row_groups is None:
            return plan_delta(x, _reader(sae, pre), self.plan, sae, mask)
        delta: torch.Tensor | None = None
        for rows, plan in self.row_groups:
            part = x.index_select(0, rows)
            d, _ = plan_delta(part, _reader(sae, pre.index_select(0, rows)), plan, sae,
                              None if mask is None else mask.index_select(0, rows))
            if d is not None:
                delta = torch.zeros_like(x) if delta is None else delta
                delta.index_copy_(0, rows, d.expand_as(part))
        return delta, None

    def _readout(self, sae: SAE, pre: torch.Tensor, resid: torch.Tensor) -> TapRecord:
        top_vals, top_ids, watched = sae.strongest(pre[0], self.top_k, self.watch)
        return TapRecord(top_ids, top_vals, watched, resid[0].float().norm(dim=-1))


def _reader(sae: SAE, pre: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``plan_delta``'s ``acts_of``: the activations of a few features from ``pre``; the calls share what the
    activations of several feature subsets of one ``pre`` share (TopK: the k-th)."""
    memo: Memo = {}
    return lambda idx: sae.selected_activations(pre, idx, memo)
