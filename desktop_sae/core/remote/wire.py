"""What a generation sends to the model side (``StepOrders``): the steering plan without its encoder-side shifts, and
for the features the plan reads activations of (clamp targets, conditions) a ``FeatureProbe`` of their own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from ..engine.sampling import SamplingConfig
from ..sae.autoencoder import SAE, GatedSAE, JumpReLUSAE, TopKSAE
from ..steering.plan import SteeringPlan
from ..support.errors import SteeringError
from .model_side import FeatureProbe, StepOrders, move_plan

# a TopK SAE's clamp and conditional rows send its whole encoder (a feature's activation depends on all of them), up
# to this many weights (64 MB in float32)
WHOLE_ENCODER_LIMIT = 16 * 1024 * 1024
_Gates = tuple[torch.Tensor, torch.Tensor, torch.Tensor, "int | None"]


def read_features(plan: SteeringPlan) -> list[int]:
    """The features whose activations the plan reads: the clamped ones and the conditions, sorted."""
    feats: set[int] = set()
    for p in [plan, *(sub for _, _, sub in plan.conditional)]:
        if p.clamp_idx is not None:
            feats.update(int(i) for i in p.clamp_idx)
    feats.update(int(g) for g, _, _ in plan.conditional)
    return sorted(feats)


def renumbered(plan: SteeringPlan, cols: Sequence[int]) -> SteeringPlan:
    """A CPU copy of ``plan`` for the wire: feature numbers replaced by their positions in ``cols``, no encoder-side
    shifts, no resolved rows."""
    pos = {f: j for j, f in enumerate(cols)}
    out = move_plan(plan, "cpu", None, keep_shifts=False)
    for p in [out, *(sub for _, _, sub in out.conditional)]:
        if p.clamp_idx is not None:
            p.clamp_idx = torch.tensor([pos[int(i)] for i in p.clamp_idx])
    out.conditional = [(torch.tensor([pos[int(g)]]), thr, sub) for g, thr, sub in out.conditional]
    return out


def sae_rows(sae: SAE, rows: Sequence[int]) -> SAE:
    """A float32 CPU SAE of the same class holding only features ``rows`` (in that order): each of its tensors with
    a feature axis is cut down to those rows."""
    d_sae = sae.cfg.d_sae
    part = SAE(replace(sae.cfg, d_sae=len(rows), metadata={}))
    idx = torch.tensor(list(rows), device=sae.device)
    for name, shape in sae.expected_shapes().items():
        full = getattr(sae, name).detach()
        axes = [a for a, size in enumerate(shape) if size == d_sae]
        cut = full.index_select(axes[-1 if name == "W_enc" else 0], idx) if axes else full
        getattr(part, name).data = cut.to("cpu", torch.float32).clone()
    return part.eval().requires_grad_(False)


def _gates(part: SAE) -> _Gates | None:
    """``FeatureProbe``'s (slope, offset, gate, k) for the SAE's class, or None for a class it cannot express.
    tests/test_remote_wire.py holds the probe equal to every class's own ``selected_activations``."""
    n = part.cfg.d_sae
    one, zero, never = torch.ones(n), torch.zeros(n), torch.full((n,), float("-inf"))
    if isinstance(part, GatedSAE):
        return part.r_mag.detach().exp(), part.b_mag.detach(), -part.b_gate.detach(), None
    if isinstance(part, JumpReLUSAE):
        return one, zero, part.threshold.detach(), None
    if isinstance(part, TopKSAE):
        return one, zero, never, part.cfg.k
    if type(part) is SAE:
        return one, zero, never, None
    return None


def feature_probe(sae: SAE, rows: Sequence[int]) -> tuple[FeatureProbe, list[int]]:
    """The probe for features ``rows`` and the feature numbers its columns stand for. A TopK probe covers every
    feature (the k-th largest needs them all), up to ``WHOLE_ENCODER_LIMIT`` weights."""
    if not sae.linear_input:
        raise SteeringError(
            f"clamp and conditional rows cannot run next to a remote model with this SAE: its input normalisation "
            f"({sae.cfg.normalize_activations}) is not linear; use add, orthogonal or cap rows instead")
    whole = isinstance(sae, TopKSAE)
    if whole and sae.W_enc.numel() > WHOLE_ENCODER_LIMIT:
        raise SteeringError(
            f"clamp and conditional rows with this TopK SAE would send its whole encoder "
            f"({sae.W_enc.numel() * 4 / 1e6:.0f} MB) with every request; use add, orthogonal or cap rows instead")
    cols = list(range(sae.cfg.d_sae)) if whole else list(rows)
    part = sae_rows(sae, cols)
    gates = _gates(part)
    if gates is None:
        raise SteeringError(f"clamp and conditional rows cannot run next to a remote model with a "
                            f"{sae.cfg.architecture} SAE; use add, orthogonal or cap rows instead")
    d = sae.cfg.d_in
    with torch.no_grad():
        weights = part.pre_shift(torch.eye(d))  # pre-activations are affine in x (linear input): x @ weights + bias
        bias = part.input_pre_activations(torch.zeros(1, d))[0]
    slope, offset, gate, k = gates
    return FeatureProbe(weights, bias, slope, offset, gate, k), cols


def probe_for(plan: SteeringPlan, sae: SAE | None) -> tuple[FeatureProbe | None, SteeringPlan, float]:
    """(the probe the model side reads activations with, the wire plan numbered for it, the decoder scale)."""
    rows = read_features(plan) if sae is not None else []
    if sae is None or not rows:
        return None, renumbered(plan, rows), 1.0
    probe, cols = feature_probe(sae, rows)
    scale = sae.decoder_scale(torch.zeros(1, sae.cfg.d_in, device=sae.device, dtype=sae.dtype))
    assert isinstance(scale, float)  # a linearly scaled input (feature_probe checked) has a constant decoder scale
    return probe, renumbered(plan, cols), scale


def step_orders(prompt_ids: Sequence[int], sampling: SamplingConfig, vocab: int, plan: SteeringPlan, sae: SAE | None,
                special_ids: Sequence[int], stop_ids: Sequence[int], skip_special: bool,
                alternatives: int) -> StepOrders:
    probe, wire_plan, scale = probe_for(plan, sae)
    return StepOrders(tuple(int(i) for i in prompt_ids), sampling.validate(), vocab, wire_plan, probe, scale,
                      frozenset(int(i) for i in special_ids), frozenset(int(i) for i in stop_ids), skip_special,
                      alternatives)
