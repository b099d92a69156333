"""The SAEs a graph uses, one per depth of the residual stream, and how each splits its depth's residual stream
into feature writes, the decoder bias and an error (docs/ATTRIBUTION.md, "Nodes")."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..engine.hooks import parse_hook_name
from ..sae.autoencoder import SAE
from ..support.errors import HookPointError


class AttributionSAEError(ValueError):
    """An SAE that attribution graphs cannot use, with the reason."""


@dataclass(frozen=True)
class DepthSAE:
    """An SAE reading the residual stream after layer ``layer`` (``blocks.{L}.hook_resid_post``, or
    ``hook_resid_pre`` of the next layer), as a float32 copy for attribution."""

    layer: int
    name: str
    sae: SAE
    folder: str | None = None  # where its dictionary and explanations live (None: the app's loaded SAE)

    @property
    def outlier_norm(self) -> float:
        """Positions whose residual norm exceeds this are not encoded (attention sinks; the SAE never saw them)."""
        value = self.sae.cfg.metadata.get("outlier_norm_threshold") if self.sae.cfg.metadata else None
        return float(value) if value else float("inf")


def residual_layer(hook_name: str) -> int:
    """The layer whose output the hook reads; -1 for the embeddings (``blocks.0.hook_resid_pre``)."""
    try:
        hp = parse_hook_name(hook_name)
    except HookPointError as e:
        raise AttributionSAEError(str(e)) from None
    if hp.site == "hook_resid_post":
        return hp.layer
    if hp.site == "hook_resid_pre":
        return hp.layer - 1
    raise AttributionSAEError(f"attribution graphs use residual-stream SAEs; {hook_name} reads {hp.site[5:]}")


def depth_sae(sae: SAE, name: str, n_layers: int, d_model: int, device: torch.device | None = None,
              folder: str | None = None) -> DepthSAE:
    """Check ``sae`` for attribution and make its float32 copy. Raises AttributionSAEError with the reason."""
    layer = residual_layer(sae.cfg.hook_name)
    if layer < 0 or layer >= n_layers:
        raise AttributionSAEError(f"{name}: {sae.cfg.hook_name} is outside this model's {n_layers} layers"
                                  if layer >= n_layers else f"{name}: an SAE on the embeddings is not a depth")
    if sae.cfg.d_in != d_model:
        raise AttributionSAEError(f"{name}: width {sae.cfg.d_in} does not match the model's {d_model}")
    refusal = sae.attribution_refusal
    if refusal:
        raise AttributionSAEError(f"{name}: {refusal}")
    copy32 = copy.deepcopy(sae).to(device=device or sae.device, dtype=torch.float32).requires_grad_(False)
    return DepthSAE(layer, name, copy32, folder)


def ordered(saes: Sequence[DepthSAE]) -> tuple[DepthSAE, ...]:
    """Ascending by layer; two SAEs at one depth are refused."""
    out = tuple(sorted(saes, key=lambda d: d.layer))
    for a, b in zip(out, out[1:]):
        if a.layer == b.layer:
            raise AttributionSAEError(f"{a.name} and {b.name} both read layer {a.layer}; choose one per depth")
    return out


@dataclass(frozen=True)
class Decomposition:
    """One depth's residual stream ``x = Σ act·dec + bias + error`` at every position. Skipped positions (the
    first token and attention sinks) have no features and no bias: their whole residual is the error."""

    layer: int
    positions: torch.Tensor  # [n] long: active features' positions
    features: torch.Tensor  # [n] long
    acts: torch.Tensor  # [n]
    dec: torch.Tensor  # [n, d]: decoder direction per unit of activation
    enc: torch.Tensor  # [n, d]: gradient of the activation with respect to x
    bias: torch.Tensor  # [T, d]
    error: torch.Tensor  # [T, d]
    skipped: torch.Tensor  # [T] bool


@torch.no_grad()
def decompose(ds: DepthSAE, x: torch.Tensor) -> Decomposition:
    sae = ds.sae
    skipped = x.norm(dim=-1) > ds.outlier_norm
    skipped[0] = True
    acts = sae.encode(x)
    acts[skipped] = 0
    pos, feat = (acts > 0).nonzero(as_tuple=True)
    recon = sae.decode(acts, like=x)
    bias = sae.decode(torch.zeros_like(acts[:1]), like=x[:1]).expand_as(x).clone()
    bias[skipped] = 0
    recon[skipped] = 0
    return Decomposition(ds.layer, pos, feat, acts[pos, feat], sae.decoder_directions(feat),
                         sae.encoder_directions(feat), bias, x - recon, skipped)
