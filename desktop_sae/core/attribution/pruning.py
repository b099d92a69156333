"""Keeping what matters: feature nodes up to a share of the total |effect|, edges up to a share of the total
|weight|, then nodes left without a path to the target dropped; and circuit-tracer's two graph scores
(docs/ATTRIBUTION.md, "Pruning" and "Scores")."""

from __future__ import annotations

import torch


def keep_by_share(scores: torch.Tensor, share: float, cap: int | None = None) -> torch.Tensor:
    """Boolean mask of the highest ``scores`` (non-negative) whose sum first reaches ``share`` of the total
    (circuit-tracer's rule: every score at least the score where the cumulative share crosses ``share``), at most
    ``cap`` of them."""
    if not 0.0 <= share <= 1.0:
        raise ValueError("a pruning threshold is a share between 0 and 1")
    n = scores.numel()
    mask = torch.zeros(n, dtype=torch.bool)
    if n == 0 or float(scores.sum()) <= 0:
        return mask
    order = torch.argsort(scores, descending=True)
    if share >= 1.0:
        count = n  # everything, even nodes whose |score| rounds to nothing (their edges need not)
    else:
        cum = torch.cumsum(scores[order].double(), 0) / scores.double().sum()
        count = int(torch.searchsorted(cum, torch.tensor(share, dtype=cum.dtype)).item()) + 1
    count = min(count, n, cap if cap is not None else n)
    mask[order[:count]] = True
    return mask


def prune_edges(src: torch.Tensor, dst: torch.Tensor, weight: torch.Tensor, n_nodes: int, always: torch.Tensor,
                needs_input: torch.Tensor, share: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(edge mask, node mask). Edges are kept by ``share`` of the total |weight|; then, until nothing changes,
    nodes other than ``always`` need an outgoing edge, nodes in ``needs_input`` an incoming one, and edges need
    both ends."""
    edge_keep = keep_by_share(weight.abs(), share)
    node_keep = torch.ones(n_nodes, dtype=torch.bool)
    while True:
        has_out = torch.zeros(n_nodes, dtype=torch.bool)
        has_in = torch.zeros(n_nodes, dtype=torch.bool)
        has_out[src[edge_keep]] = True
        has_in[dst[edge_keep]] = True
        new = node_keep & (has_out | always) & (has_in | ~needs_input | always)
        new_edges = edge_keep & new[src] & new[dst]
        if torch.equal(new, node_keep) and torch.equal(new_edges, edge_keep):
            return edge_keep, node_keep
        node_keep, edge_keep = new, new_edges


def _influence(norm: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """start·(A + A² + …) for a normalised adjacency of a DAG (rows: destinations)."""
    total = torch.zeros_like(start)
    cur = start @ norm
    for _ in range(norm.shape[0] + 1):
        if not bool(cur.any()):
            return total
        total += cur
        cur = cur @ norm
    raise RuntimeError("the attribution graph has a cycle")


def graph_scores(src: torch.Tensor, dst: torch.Tensor, weight: torch.Tensor, n_nodes: int, target: int,
                 errors: torch.Tensor, tokens: torch.Tensor) -> tuple[float, float]:
    """(completeness, replacement) as circuit-tracer defines them, with error nodes as sources (their incoming
    edges dropped): replacement is the share of the target's |influence| reaching it from tokens rather than errors;
    completeness the influence-weighted share of each node's incoming |weight| that is not from an error node."""
    keep = ~errors[dst]
    a = torch.zeros(n_nodes, n_nodes, dtype=torch.float64)
    a.index_put_((dst[keep], src[keep]), weight[keep].abs().double(), accumulate=True)
    norm = a / a.sum(1, keepdim=True).clamp_min(1e-30)
    start = torch.zeros(n_nodes, dtype=torch.float64)
    start[target] = 1.0
    infl = _influence(norm, start)
    tok, err = float(infl[tokens].sum()), float(infl[errors].sum())
    replacement = tok / (tok + err) if tok + err > 0 else 0.0
    non_error = 1 - norm[:, errors].sum(1)
    weight_out = infl + start
    completeness = float((non_error * weight_out).sum() / weight_out.sum())
    return completeness, replacement
