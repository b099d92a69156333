"""Edges between consecutive depths, in target units, by batched backward passes through the frozen model
(docs/ATTRIBUTION.md, "Edges in target units").

For a destination node ``v`` at depth ``D`` and position ``q`` the backward pass starts from a cotangent ``c_v`` at
``x_D[q]``: for a feature, ``(g_D[q]·dec_v) enc_v``; for the error node, ``g_D[q] − Σ_j (g_D[q]·dec_j) enc_j``
over the features active at ``q``. Its gradient ``h_v`` at the source depth gives every edge into ``v`` at once:
``w(u→v) = write_u · h_v[p_u]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..support.errors import Cancelled
from .depths import Decomposition
from .llama_functional import Frozen, Linearisation, LlamaWeights, run_layers


@dataclass(frozen=True)
class Sources:
    """The source nodes at one depth (or the token embeddings): where each writes and what."""

    index: torch.Tensor  # [m] node indices in the graph (CPU)
    positions: torch.Tensor  # [m] (CPU)
    writes: torch.Tensor  # [m, d] (the model's device)


@dataclass(frozen=True)
class Destinations:
    index: torch.Tensor  # [n] node indices in the graph (CPU)
    positions: torch.Tensor  # [n] (CPU)
    cotangents: torch.Tensor  # [n, d] (the model's device)


def feature_cotangents(dec: Decomposition, rows: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``[n, d]`` cotangents for the features ``rows`` (indices into ``dec``'s active features)."""
    pos = dec.positions[rows]
    gain = (grad[pos] * dec.dec[rows]).sum(-1)  # g·dec: the target per unit of activation
    return gain[:, None] * dec.enc[rows]


def error_cotangents(dec: Decomposition, grad: torch.Tensor) -> torch.Tensor:
    """``[T, d]`` cotangents for the error node at every position."""
    gain = (grad[dec.positions] * dec.dec).sum(-1)
    recon_grad = torch.zeros_like(grad).index_add_(0, dec.positions, gain[:, None] * dec.enc)
    return grad - recon_grad


def edges_between(w: LlamaWeights, frozen: Frozen, x_src: torch.Tensor, src_layer: int, dst_layer: int,
                  sources: Sources, dests: Destinations, mode: Linearisation, batch: int = 64,
                  cancelled: Callable[[], bool] | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(source index, destination index, weight) of every edge from ``sources`` (at the output of ``src_layer``;
    -1: the embeddings) to ``dests`` (at the output of ``dst_layer``)."""
    leaf = x_src.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out, _ = run_layers(w, leaf, src_layer + 1, dst_layer + 1, frozen, mode=mode)
    t, d = out.shape
    src_pos, dst_pos = sources.positions.to(out.device), dests.positions.to(out.device)
    src_out, dst_out, w_out = [], [], []
    n = len(dests.index)
    for start in range(0, n, batch):
        if cancelled is not None and cancelled():
            raise Cancelled("attribution stopped")
        stop = min(start + batch, n)
        cot = torch.zeros(stop - start, t, d, dtype=out.dtype, device=out.device)
        cot[torch.arange(stop - start, device=out.device), dst_pos[start:stop]] = dests.cotangents[start:stop]
        (h,) = torch.autograd.grad(out, leaf, cot, retain_graph=True, is_grads_batched=True)
        # weights[v, u] = write_u · h_v[p_u]
        weights = torch.einsum("vud,ud->vu", h[:, src_pos], sources.writes).cpu()
        v_idx, u_idx = weights.nonzero(as_tuple=True)
        src_out.append(sources.index[u_idx])
        dst_out.append(dests.index[start:stop][v_idx])
        w_out.append(weights[v_idx, u_idx])
    if not w_out:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty, torch.zeros(0)
    return torch.cat(src_out), torch.cat(dst_out), torch.cat(w_out).detach()
