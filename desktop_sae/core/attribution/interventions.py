"""Checking a graph against the model: set a feature node's activation (zero: ablation), re-run the live model
from that depth, and compare the target's actual change with the graph's first-order prediction
(docs/ATTRIBUTION.md, "Faithfulness")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .attribute import AttributionState
from .graph import Node, NodeKind
from .llama_functional import final_logits, run_layers


@dataclass(frozen=True)
class Intervention:
    node: str  # the node's key
    new_activation: float
    predicted: float  # first-order change of the target (graph)
    actual: float  # change of the target when the live model runs with the edit
    before: float
    after: float
    after_prob: float  # the target token's probability after the edit
    top_after: int  # the model's most likely token after the edit (the answer it would now give)
    top_after_prob: float


@dataclass(frozen=True)
class Faithfulness:
    interventions: tuple[Intervention, ...]
    spearman: float  # rank correlation of predicted and actual changes (nan with fewer than 2 nodes)
    sign_agreement: float  # share of nodes whose predicted and actual changes have the same sign


def _row(state: AttributionState, node: Node) -> int:
    if node.kind is not NodeKind.FEATURE:
        raise ValueError("only feature nodes can be set")
    dec = state.decomps[node.layer]
    hit = ((dec.positions == node.position) & (dec.features == node.feature)).nonzero()
    if len(hit) == 0:
        raise ValueError(f"feature {node.feature} is not active at position {node.position}, layer {node.layer}")
    return int(hit[0, 0])


@torch.no_grad()
def set_activations(state: AttributionState, nodes: Sequence[Node], new: Sequence[float]) -> list[Intervention]:
    """Each node's activation set to its value in ``new`` separately (the others untouched), batched by depth."""
    w, cp, target = state.weights, state.clean, state.target
    before = float(target.value(cp.logits))
    results: dict[int, Intervention] = {}
    by_layer: dict[int, list[int]] = {}
    for i, n in enumerate(nodes):
        by_layer.setdefault(n.layer, []).append(i)
    for layer, items in by_layer.items():
        dec, g = state.decomps[layer], state.grads[layer]
        x = cp.resid_post[layer].expand(len(items), -1, -1).clone()
        predicted = []
        for b, i in enumerate(items):
            n, r = nodes[i], _row(state, nodes[i])
            delta = (float(new[i]) - float(dec.acts[r])) * dec.dec[r]
            x[b, n.position] += delta
            predicted.append(float((delta * g[n.position]).sum()))
        out, _ = run_layers(w, x, layer + 1, w.n_layers)
        logits = final_logits(w, out[:, -1])
        after = target.value(logits)
        probs = logits.softmax(-1)
        top_p, top_i = probs.max(-1)
        for b, i in enumerate(items):
            results[i] = Intervention(nodes[i].key, float(new[i]), predicted[b], float(after[b]) - before, before,
                                      float(after[b]), float(probs[b, target.token_id]), int(top_i[b]),
                                      float(top_p[b]))
    return [results[i] for i in range(len(nodes))]


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); nan when either side is constant or too short."""
    if len(a) < 2:
        return float("nan")

    def ranks(v: Sequence[float]) -> torch.Tensor:
        t = torch.tensor(v, dtype=torch.float64)
        order = torch.argsort(t)
        r = torch.empty_like(t)
        r[order] = torch.arange(len(t), dtype=torch.float64)
        for value in torch.unique(t):  # ties share their average rank
            same = t == value
            r[same] = r[same].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(ra.norm() * rb.norm())
    return float((ra * rb).sum()) / den if den > 0 else float("nan")


def faithfulness(state: AttributionState, features: Sequence[Node], top: int = 10) -> Faithfulness:
    """Ablate each of the ``top`` strongest feature nodes (activation to zero, error kept) and compare."""
    chosen = sorted(features, key=lambda n: -abs(n.effect))[:top]
    results = set_activations(state, chosen, [0.0] * len(chosen))
    pred = [r.predicted for r in results]
    act = [r.actual for r in results]
    agree = sum((p > 0) == (a > 0) for p, a in zip(pred, act)) / len(results) if results else float("nan")
    return Faithfulness(tuple(results), spearman(pred, act), agree)
