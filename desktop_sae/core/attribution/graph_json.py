"""The graph as JSON: the fields circuit-tracer writes and Neuronpedia's graph viewer reads (``metadata``,
``qParams``, ``nodes``, ``links``), plus a ``desktop_sae`` block with everything this app measures, from which the
graph can be read back. The schema is ``resources/schemas/attribution_graph.schema.json`` (docs/ATTRIBUTION.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .graph import AttributionGraph, DepthShare, Edge, Node, NodeKind

SCHEMA = "desktop-sae-attribution/1"
FEATURE_TYPES = {
    NodeKind.TOKEN: "embedding",
    NodeKind.FEATURE: "residual sae feature",
    NodeKind.ERROR: "residual reconstruction error",
    NodeKind.TARGET: "logit",
}
Labeler = Callable[[int, int], str]  # (layer, feature) -> a feature's name


def _cantor(x: int, y: int) -> int:
    return (x + y) * (x + y + 1) // 2 + y


def _js_id(n: Node) -> str:
    if n.kind is NodeKind.FEATURE:
        return f"{n.layer}_{n.feature}-0"
    if n.kind is NodeKind.ERROR:
        return f"{n.layer}_{n.position}-0"
    if n.kind is NodeKind.TOKEN:
        return f"E_{n.feature}-{n.position}"
    return f"L_{n.feature}-{n.position}"


def _viewer_node(g: AttributionGraph, n: Node, influence: float, label: str) -> dict[str, Any]:
    feature = {NodeKind.FEATURE: _cantor(max(n.layer, 0), n.feature), NodeKind.ERROR: -1,
               NodeKind.TOKEN: n.position, NodeKind.TARGET: n.feature}[n.kind]
    target = n.kind is NodeKind.TARGET
    return {
        "node_id": n.key, "feature": feature, "layer": "E" if n.kind is NodeKind.TOKEN else str(n.layer),
        "ctx_idx": n.position, "feature_type": FEATURE_TYPES[n.kind],
        "token_prob": g.target_prob if target else 0.0, "is_target_logit": target, "run_idx": 0,
        "reverse_ctx_idx": 0, "jsNodeId": _js_id(n), "clerp": label, "influence": influence,
        "activation": n.activation if n.kind is NodeKind.FEATURE else None,
    }


def _label(g: AttributionGraph, n: Node, labeler: Labeler | None) -> str:
    if n.kind is NodeKind.FEATURE:
        return labeler(n.layer, n.feature) if labeler is not None else ""
    if n.kind is NodeKind.ERROR:
        return f"error at layer {n.layer}, “{g.tokens[n.position]}”"
    if n.kind is NodeKind.TOKEN:
        return g.tokens[n.position]
    alt = f" − “{g.alt_token}”" if g.alt_token is not None else ""
    return f"Output “{g.target_token}”{alt} (p={g.target_prob:.3f})"


def to_json(g: AttributionGraph, slug: str = "desktop-sae-graph", labeler: Labeler | None = None,
            prompt: str | None = None) -> dict[str, Any]:
    # influence: each node's cumulative share of |effect| when sorted strongest first (circuit-tracer's field)
    total = sum(abs(n.effect) for n in g.nodes if n.kind is not NodeKind.TARGET) or 1.0
    order = sorted(range(len(g.nodes)), key=lambda i: -abs(g.nodes[i].effect))
    cum, running = {}, 0.0
    for i in order:
        if g.nodes[i].kind is not NodeKind.TARGET:
            running += abs(g.nodes[i].effect)
        cum[i] = min(running / total, 1.0)
    labels = [_label(g, n, labeler) for n in g.nodes]
    return {
        "metadata": {"slug": slug, "scan": g.model_name or "desktop-sae", "transcoder_list": list(g.sae_names),
                     "prompt_tokens": list(g.tokens), "prompt": prompt if prompt is not None else "".join(g.tokens),
                     "node_threshold": g.node_threshold, "schema_version": 1},
        "qParams": {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""},
        "nodes": [_viewer_node(g, n, cum[i], labels[i]) for i, n in enumerate(g.nodes)],
        "links": [{"source": g.nodes[e.source].key, "target": g.nodes[e.target].key, "weight": e.weight}
                  for e in g.edges],
        "desktop_sae": {
            "schema": SCHEMA, "model": g.model_name, "saes": list(g.sae_names), "depths": list(g.depths),
            "linearisation": g.linearisation,
            "target": {"token": g.target_token, "id": g.target_id, "alt_token": g.alt_token, "alt_id": g.alt_id,
                       "value": g.target_value, "prob": g.target_prob},
            "token_ids": list(g.token_ids),
            "node_threshold": g.node_threshold, "edge_threshold": g.edge_threshold,
            "completeness": g.completeness, "replacement": g.replacement, "n_active": g.n_active,
            "seconds": g.seconds, "timings": dict(g.timings),
            "shares": [vars(s) for s in g.shares],
            "nodes": [{"node_id": n.key, "kind": n.kind.value, "layer": n.layer, "position": n.position,
                       "feature": n.feature, "activation": n.activation, "effect": n.effect, "label": labels[i]}
                      for i, n in enumerate(g.nodes)],
        },
    }


def from_json(d: dict[str, Any]) -> AttributionGraph:
    """The graph back from :func:`to_json`'s output (its ``desktop_sae`` block and ``links``)."""
    ours = d.get("desktop_sae")
    if not isinstance(ours, dict) or ours.get("schema") != SCHEMA:
        raise ValueError(f"not a Desktop SAE attribution graph (no desktop_sae block with schema {SCHEMA})")
    nodes = tuple(Node(NodeKind(n["kind"]), int(n["layer"]), int(n["position"]), int(n["feature"]),
                       float(n["activation"]), float(n["effect"])) for n in ours["nodes"])
    index = {n.key: i for i, n in enumerate(nodes)}
    try:
        edges = tuple(Edge(index[e["source"]], index[e["target"]], float(e["weight"])) for e in d["links"])
    except KeyError as e:
        raise ValueError(f"a link names a node the graph does not have: {e}") from None
    t = ours["target"]
    return AttributionGraph(
        tokens=tuple(d["metadata"]["prompt_tokens"]), token_ids=tuple(int(i) for i in ours["token_ids"]),
        target_token=t["token"], target_id=int(t["id"]), alt_token=t["alt_token"], alt_id=t["alt_id"],
        target_value=float(t["value"]), target_prob=float(t["prob"]), depths=tuple(ours["depths"]),
        nodes=nodes, edges=edges, shares=tuple(DepthShare(**s) for s in ours["shares"]),
        node_threshold=float(ours["node_threshold"]), edge_threshold=float(ours["edge_threshold"]),
        completeness=float(ours["completeness"]), replacement=float(ours["replacement"]),
        n_active=int(ours["n_active"]), seconds=float(ours["seconds"]), model_name=str(ours["model"]),
        sae_names=tuple(ours["saes"]), timings=dict(ours.get("timings", {})),
        linearisation=str(ours.get("linearisation", "")))
