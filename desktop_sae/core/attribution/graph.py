"""An attribution graph as an immutable snapshot: nodes, edges and the measures that go with them.

Every node's ``effect`` and every edge's ``weight`` are in units of the target (logits, or a logit difference):
``effect`` is the first-order change of the target if the node were removed, ``weight`` the part of the source's
effect that flows through the edge's destination (docs/ATTRIBUTION.md, "Edges in target units").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class NodeKind(enum.Enum):
    TOKEN = "token"  # a prompt token's embedding
    FEATURE = "feature"  # an active SAE feature at one position and depth
    ERROR = "error"  # what the SAE at that depth and position did not reconstruct
    TARGET = "target"  # the answer token's logit (or logit difference)


@dataclass(frozen=True)
class Node:
    kind: NodeKind
    layer: int  # the residual stream's layer (resid_post); -1 for tokens, n_layers + 1 for the target
    position: int
    feature: int = -1  # FEATURE only
    activation: float = 0.0  # FEATURE only
    effect: float = 0.0  # first-order contribution to the target (removing the node changes it by about -effect)

    @property
    def key(self) -> str:
        """A stable id, the one the graph JSON uses (circuit-tracer's ``node_id`` convention)."""
        if self.kind is NodeKind.FEATURE:
            return f"{self.layer}_{self.feature}_{self.position}"
        if self.kind is NodeKind.ERROR:
            return f"0_{self.layer}_{self.position}"
        if self.kind is NodeKind.TOKEN:
            return f"E_{self.feature}_{self.position}"
        return f"{self.layer}_{self.feature}_{self.position}"


@dataclass(frozen=True)
class Edge:
    source: int  # index into AttributionGraph.nodes
    target: int
    weight: float


@dataclass(frozen=True)
class DepthShare:
    """How the target's first-order attribution at one depth splits between features and the SAE's error."""

    layer: int
    features: float  # sum of feature nodes' effects
    errors: float  # sum of error nodes' effects
    bias: float  # the decoder bias's share (not a node)
    feature_share: float  # sum |feature effects| / (sum |feature effects| + sum |error effects|)


@dataclass(frozen=True)
class AttributionGraph:
    tokens: tuple[str, ...]  # the context, one string per position
    token_ids: tuple[int, ...]
    target_token: str
    target_id: int
    alt_token: str | None
    alt_id: int | None
    target_value: float  # the logit (or logit difference) at the clean run
    target_prob: float  # softmax probability of the target token
    depths: tuple[int, ...]  # SAE layers used, ascending
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    shares: tuple[DepthShare, ...]
    node_threshold: float
    edge_threshold: float
    completeness: float  # circuit-tracer's completeness score on this graph
    replacement: float  # circuit-tracer's replacement score on this graph
    n_active: int  # active feature nodes before pruning
    seconds: float
    model_name: str = ""
    sae_names: tuple[str, ...] = ()
    linearisation: str = ""  # what was frozen (core/attribution/llama_functional.Linearisation)
    timings: dict[str, float] = field(default_factory=dict)

    def index(self, key: str) -> int:
        for i, n in enumerate(self.nodes):
            if n.key == key:
                return i
        raise KeyError(key)

    def features(self) -> list[Node]:
        """Feature nodes, strongest |effect| first."""
        return sorted((n for n in self.nodes if n.kind is NodeKind.FEATURE), key=lambda n: -abs(n.effect))

    def incoming(self, i: int) -> list[Edge]:
        return [e for e in self.edges if e.target == i]

    def outgoing(self, i: int) -> list[Edge]:
        return [e for e in self.edges if e.source == i]
