"""Building an attribution graph for one answer token (docs/ATTRIBUTION.md).

1. one clean pass records attention patterns and norm scales; one backward pass through the model, linearised as
   ``Settings.linearisation`` says, gives the target's gradient at every depth, hence every node's effect
   (activation × decoder direction · gradient);
2. feature and error nodes are kept up to ``node_threshold`` of their total |effect| (at most ``max_nodes``);
3. edges between consecutive depths come from batched backward passes (core/attribution/edges.py);
4. edges are pruned to ``edge_threshold`` of the total |weight|, and nodes cut off from the target dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..support.errors import Cancelled
from .depths import Decomposition, DepthSAE, decompose, ordered
from .edges import Destinations, Sources, edges_between, error_cotangents, feature_cotangents
from .graph import AttributionGraph, DepthShare, Edge, Node, NodeKind
from .llama_functional import CleanPass, Linearisation, LlamaWeights, clean_pass, final_logits, run_layers
from .pruning import graph_scores, keep_by_share, prune_edges

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Settings:
    node_threshold: float = 0.8  # feature and error nodes kept up to this share of the total |effect|
    edge_threshold: float = 0.98  # edges kept up to this share of the total |weight|
    max_nodes: int = 100  # at most this many feature and error nodes (each costs a backward pass for its edges)
    linearisation: Linearisation = Linearisation.LIVE  # chosen on the dev prompts (docs/ATTRIBUTION.md)
    batch: int = 32
    edges: bool = True  # False: nodes and their effects only (no backward pass per node, no pruning by edges)


@dataclass(frozen=True)
class Target:
    token_id: int
    alt_id: int | None = None

    def value(self, logits: torch.Tensor) -> torch.Tensor:
        v = logits[..., self.token_id]
        return v - logits[..., self.alt_id] if self.alt_id is not None else v


@dataclass(frozen=True)
class AttributionState:
    """What follow-up interventions on a graph need (kept on the worker; never leaves it)."""

    weights: LlamaWeights
    clean: CleanPass
    target: Target
    grads: dict[int, torch.Tensor]  # layer -> [T, d] gradient of the target; -1: the embeddings
    decomps: dict[int, Decomposition]


def target_gradients(w: LlamaWeights, cp: CleanPass, target: Target, layers: Sequence[int],
                     mode: Linearisation) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """(the target's value, its gradient at the embeddings (-1) and after each of ``layers``)."""
    leaf = cp.embeddings.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out, kept = run_layers(w, leaf, 0, w.n_layers, cp.frozen, keep=set(layers), mode=mode)
        for t in kept.values():
            t.retain_grad()
        value = target.value(final_logits(w, out[-1], cp.frozen, mode))
        value.backward()
    assert leaf.grad is not None
    grads = {-1: leaf.grad.detach()}
    for layer, t in kept.items():
        assert t.grad is not None
        grads[layer] = t.grad.detach()
    return value.detach(), grads


def _check(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled("attribution stopped")


def attribute(w: LlamaWeights, saes: Sequence[DepthSAE], ids: torch.Tensor, target: Target,
              tokens: Sequence[str], target_token: str, alt_token: str | None = None,
              settings: Settings = Settings(), progress: Progress | None = None,
              cancelled: Callable[[], bool] | None = None) -> tuple[AttributionGraph, AttributionState]:
    """The graph for predicting ``target`` after the context ``ids`` ``[T]`` (the last position predicts)."""
    t0 = time.perf_counter()
    report = progress or (lambda f, m: None)
    depths = ordered(saes)
    layers = [d.layer for d in depths]
    report(0.0, "clean pass")
    cp = clean_pass(w, ids)
    value, grads = target_gradients(w, cp, target, layers, settings.linearisation)
    timings = {"forward_backward": time.perf_counter() - t0}
    _check(cancelled)
    decomps = {d.layer: decompose(d, cp.resid_post[d.layer]) for d in depths}
    n_tok = len(ids)

    # --- node effects and selection: features and errors pooled -------------------------------------------
    effects: dict[int, torch.Tensor] = {}
    err_effects: dict[int, torch.Tensor] = {}
    for layer, dec in decomps.items():
        g = grads[layer]
        effects[layer] = dec.acts * (dec.dec * g[dec.positions]).sum(-1)
        err_effects[layer] = (dec.error * g).sum(-1)
    pool = [t for layer in layers for t in (effects[layer], err_effects[layer])]
    scores = torch.cat(pool).abs().cpu() if pool else torch.zeros(0)  # indices and masks live on the CPU
    keep_all = keep_by_share(scores, settings.node_threshold, settings.max_nodes)
    kept_rows: dict[int, torch.Tensor] = {}
    kept_err: dict[int, torch.Tensor] = {}
    offset = 0
    for layer in layers:
        for store, n in ((kept_rows, len(effects[layer])), (kept_err, n_tok)):
            store[layer] = keep_all[offset:offset + n].nonzero(as_tuple=True)[0]
            offset += n

    nodes: list[Node] = [Node(NodeKind.TOKEN, -1, p, int(ids[p]), 0.0, float((cp.embeddings[p] * grads[-1][p]).sum()))
                         for p in range(n_tok)]
    feat_index: dict[int, torch.Tensor] = {}
    err_index: dict[int, torch.Tensor] = {}
    shares = []
    for layer in layers:
        dec, rows, g = decomps[layer], kept_rows[layer], grads[layer]
        start = len(nodes)
        for r in rows.tolist():
            nodes.append(Node(NodeKind.FEATURE, layer, int(dec.positions[r]), int(dec.features[r]),
                              float(dec.acts[r]), float(effects[layer][r])))
        feat_index[layer] = torch.arange(start, len(nodes))
        fe, ee = effects[layer], err_effects[layer]
        start = len(nodes)
        nodes += [Node(NodeKind.ERROR, layer, p, -1, 0.0, float(ee[p])) for p in kept_err[layer].tolist()]
        err_index[layer] = torch.arange(start, len(nodes))
        denom = float(fe.abs().sum() + ee.abs().sum())
        shares.append(DepthShare(layer, float(fe.sum()), float(ee.sum()), float((dec.bias * g).sum()),
                                 float(fe.abs().sum()) / denom if denom else 0.0))
    target_node = len(nodes)
    nodes.append(Node(NodeKind.TARGET, w.n_layers + 1, n_tok - 1, target.token_id, 0.0, float(value)))

    # --- edges ---------------------------------------------------------------------------------------------
    srcs, dsts, wts = [], [], []
    prev_layer, prev_sources = -1, Sources(torch.arange(n_tok), torch.arange(n_tok), cp.embeddings)
    x_prev = cp.embeddings
    for i, layer in enumerate(layers if settings.edges else ()):
        report(0.1 + 0.85 * i / max(len(layers), 1), f"edges into layer {layer}")
        dec, rows, errs, g = decomps[layer], kept_rows[layer], kept_err[layer], grads[layer]
        dests = Destinations(
            torch.cat([feat_index[layer], err_index[layer]]),
            torch.cat([dec.positions[rows].cpu(), errs]),
            torch.cat([feature_cotangents(dec, rows, g), error_cotangents(dec, g)[errs]]))
        s, d_, wt = edges_between(w, cp.frozen, x_prev, prev_layer, layer, prev_sources, dests,
                                  settings.linearisation, settings.batch, cancelled)
        srcs.append(s)
        dsts.append(d_)
        wts.append(wt)
        prev_layer, x_prev = layer, cp.resid_post[layer]
        prev_sources = Sources(torch.cat([feat_index[layer], err_index[layer]]),
                               torch.cat([dec.positions[rows].cpu(), errs]),
                               torch.cat([dec.acts[rows, None] * dec.dec[rows], dec.error[errs]]))
    # into the target: the last depth's nodes, by their effects (or the tokens directly without SAEs)
    last = prev_sources.index
    srcs.append(last)
    dsts.append(torch.full_like(last, target_node))
    wts.append(torch.tensor([nodes[int(j)].effect for j in last], dtype=torch.float32))
    src, dst, weight = torch.cat(srcs), torch.cat(dsts), torch.cat(wts).float()
    timings["edges"] = time.perf_counter() - t0 - timings["forward_backward"]
    report(0.97, "pruning")

    # --- pruning and scores --------------------------------------------------------------------------------
    kinds = [n.kind for n in nodes]
    is_err = torch.tensor([k is NodeKind.ERROR for k in kinds])
    is_tok = torch.tensor([k is NodeKind.TOKEN for k in kinds])
    is_feat = torch.tensor([k is NodeKind.FEATURE for k in kinds])
    if settings.edges:
        completeness, replacement = graph_scores(src, dst, weight, len(nodes), target_node, is_err, is_tok)
        always = is_tok.clone()
        always[target_node] = True
        edge_keep, node_keep = prune_edges(src, dst, weight, len(nodes), always, is_feat,
                                           settings.edge_threshold)
    else:  # the selected nodes alone: no edges, so no scores that need them
        completeness = replacement = 0.0
        edge_keep, node_keep = torch.zeros(len(src), dtype=torch.bool), torch.ones(len(nodes), dtype=torch.bool)
    new_index = torch.cumsum(node_keep.long(), 0) - 1
    kept_nodes = tuple(n for n, k in zip(nodes, node_keep.tolist()) if k)
    edges = tuple(Edge(int(new_index[a]), int(new_index[b]), float(c))
                  for a, b, c in zip(src[edge_keep].tolist(), dst[edge_keep].tolist(), weight[edge_keep].tolist()))
    probs = cp.logits.softmax(-1)
    graph = AttributionGraph(
        tokens=tuple(tokens), token_ids=tuple(int(i) for i in ids), target_token=target_token,
        target_id=target.token_id, alt_token=alt_token, alt_id=target.alt_id, target_value=float(value),
        target_prob=float(probs[target.token_id]), depths=tuple(layers), nodes=kept_nodes, edges=edges,
        shares=tuple(shares), node_threshold=settings.node_threshold, edge_threshold=settings.edge_threshold,
        completeness=completeness, replacement=replacement, n_active=sum(len(e) for e in effects.values()),
        seconds=time.perf_counter() - t0, sae_names=tuple(d.name for d in depths), timings=timings,
        linearisation=settings.linearisation.value)
    report(1.0, "done")
    return graph, AttributionState(w, cp, target, grads, decomps)
