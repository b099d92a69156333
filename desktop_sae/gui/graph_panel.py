"""The graph view's side panel: the target and its probability, the alternative token (choosing one recomputes the
graph as a logit difference), the graph's scores and per-depth feature shares, and the selected node with Ablate
and "Steer to" that show the graph's predicted change of the target beside the model's actual one."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..app.attribution_run import GraphResult
from ..core.attribution.graph import Node, NodeKind
from .graph_layout import shown_token

if TYPE_CHECKING:
    from ..core.attribution.interventions import Intervention

NO_ALTERNATIVE = "none: the target's logit"


def intervention_text(result: GraphResult, iv: Intervention) -> str:
    """'predicted Δ +0.447 / actual Δ +0.257 (p 0.30% → 0.39%)'."""
    return (f"predicted Δ {iv.predicted:+.3f} / actual Δ {iv.actual:+.3f} "
            f"(p {100 * result.graph.target_prob:.2f}% → {100 * iv.after_prob:.2f}%)")


def shares_html(result: GraphResult) -> str:
    """Per depth: the features' share of |effect| and the sums of the feature and error effects."""
    return "<br>".join(f"<b>layer {s.layer}</b>{' (loaded SAE)' if s.layer == result.loaded_layer else ''}: "
                       f"features {100 * s.feature_share:.0f}% · Σ features {s.features:+.2f}, "
                       f"Σ error {s.errors:+.2f}" for s in result.graph.shares)


class GraphPanel(QWidget):
    alternativeChosen = Signal(object)  # a token id, or None for the target's logit alone
    ablateRequested = Signal()
    steerRequested = Signal(float)
    dashboardRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.result: GraphResult | None = None
        self.node: Node | None = None
        self.target = QLabel("Right-click a token of an answer and choose “Why this token?”.")
        self.target.setWordWrap(True)
        self.alt = QComboBox()
        self.alt.setToolTip("Explain the target against another likely token: the graph of their logit difference")
        self.alt.activated.connect(self._alt_chosen)
        self.scores = QLabel()
        self.scores.setWordWrap(True)
        self.scores.setToolTip("Completeness: the share of the graph's inputs that come from features and tokens "
                               "rather than SAE errors. Replacement: the share of the target's influence reaching "
                               "it from the tokens through features rather than from errors (circuit-tracer's "
                               "scores).")
        self.shares = QLabel()
        self.shares.setWordWrap(True)
        self.shares.setToolTip("Per depth: the share of |effect| carried by features (the rest is the SAE's error), "
                               "and the sums of feature and error effects on the target")
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.node_label = QLabel("Click a node to select it.")
        self.node_label.setWordWrap(True)
        self.ablate_btn = QPushButton("Ablate")
        self.ablate_btn.setToolTip("Set this feature's activation to 0 and run the model again from its layer")
        self.steer = QDoubleSpinBox(minimum=-1000.0, maximum=1000.0, decimals=3, singleStep=0.5)
        self.steer.setToolTip("The activation to set this feature to (its current one is the default)")
        self.apply_btn = QPushButton("Apply")
        self.apply_btn.setToolTip("Set the feature to this activation and run the model again")
        self.dashboard_btn = QPushButton("Dashboard")
        self.dashboard_btn.setToolTip("Open this feature's dashboard (features of the loaded SAE)")
        self.effect = QLabel()
        self.effect.setWordWrap(True)
        self.effect.setToolTip("The graph's first-order prediction of the target's change beside the change the "
                               "model shows when run with the edit")
        self.ablate_btn.clicked.connect(self.ablateRequested.emit)
        self.apply_btn.clicked.connect(lambda: self.steerRequested.emit(self.steer.value()))
        self.dashboard_btn.clicked.connect(self.dashboardRequested.emit)

        top = QFormLayout()
        top.addRow(self.target)
        top.addRow("Alternative token", self.alt)
        graph_box = QGroupBox("This graph")
        g = QVBoxLayout(graph_box)
        g.addWidget(self.scores)
        g.addWidget(self.shares)
        g.addWidget(self.warnings)
        node_box = QGroupBox("Selected node")
        n = QVBoxLayout(node_box)
        n.addWidget(self.node_label)
        row = QHBoxLayout()
        row.addWidget(self.ablate_btn)
        row.addWidget(QLabel("Steer to"))
        row.addWidget(self.steer, 1)
        row.addWidget(self.apply_btn)
        n.addLayout(row)
        n.addWidget(self.dashboard_btn)
        n.addWidget(self.effect)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(graph_box)
        lay.addWidget(node_box)
        lay.addStretch(1)
        self.setMinimumWidth(360)
        self.show_node(None)

    # --- what it shows -------------------------------------------------------------------------------------------
    def show_result(self, result: GraphResult) -> None:
        self.result = result
        g = result.graph
        unit = "logit difference" if g.alt_token is not None else "logit"
        vs = f" − “{html.escape(shown_token(g.alt_token))}”" if g.alt_token is not None else ""
        self.target.setText(f"<b>Target “{html.escape(shown_token(g.target_token))}”{vs}</b><br>"
                            f"p = {100 * g.target_prob:.2f}% · {unit} {g.target_value:+.3f}<br>"
                            f"<small>{len(g.tokens)} context tokens; the model without steering</small>")
        self.alt.blockSignals(True)
        self.alt.clear()
        self.alt.addItem(NO_ALTERNATIVE, None)
        for c in result.candidates:
            if c.token_id != g.target_id:
                self.alt.addItem(f"“{shown_token(c.token)}”  {100 * c.prob:.1f}%", c.token_id)
        if g.alt_id is not None and self.alt.findData(g.alt_id) < 0:
            self.alt.addItem(f"“{shown_token(g.alt_token or '')}”", g.alt_id)
        self.alt.setCurrentIndex(max(0, self.alt.findData(g.alt_id)) if g.alt_id is not None else 0)
        self.alt.blockSignals(False)
        kinds = [n.kind for n in g.nodes]
        self.scores.setText(
            f"<b>Completeness {g.completeness:.2f} · replacement {g.replacement:.2f}</b><br>"
            f"{kinds.count(NodeKind.FEATURE)} feature nodes (of {g.n_active} active)<br>"
            f"{kinds.count(NodeKind.ERROR)} error nodes · {len(g.edges)} edges · {g.seconds:.1f} s")
        self.shares.setText(shares_html(result))
        self.warnings.setText("<br>".join(html.escape(w) for w in result.warnings))
        self.warnings.setVisible(bool(result.warnings))
        self.show_node(None)

    def show_node(self, node: Node | None) -> None:
        self.node = node
        r = self.result
        feature = node is not None and node.kind is NodeKind.FEATURE
        if node is None or r is None:
            self.node_label.setText("Click a node in the graph to select it; a feature node can be ablated or "
                                    "steered.")
        else:
            where = f" at “{html.escape(shown_token(r.graph.tokens[node.position]))}”" \
                if 0 <= node.position < len(r.graph.tokens) else ""
            what = f"feature #{node.feature}, layer {node.layer}, activation {node.activation:.3f}" if feature \
                else str(node.kind.value)
            self.node_label.setText(f"<b>{html.escape(r.name(node))}</b><br>{what}{where}<br>"
                                    f"effect {node.effect:+.3f}")
        for w in (self.ablate_btn, self.steer, self.apply_btn):
            w.setEnabled(feature)
        self.dashboard_btn.setEnabled(node is not None and r is not None and r.opens_dashboard(node))
        if feature and node is not None:
            self.steer.setValue(node.activation)
        self.effect.setText("")

    def show_effect(self, text: str) -> None:
        self.effect.setText(text)

    def set_busy(self, busy: bool) -> None:
        """While a graph computes, nothing of the old one can be edited."""
        self.alt.setEnabled(not busy and self.result is not None)
        feature = self.node is not None and self.node.kind is NodeKind.FEATURE and not busy
        for w in (self.ablate_btn, self.steer, self.apply_btn):
            w.setEnabled(feature)

    def _alt_chosen(self, index: int) -> None:
        self.alternativeChosen.emit(self.alt.itemData(index))
