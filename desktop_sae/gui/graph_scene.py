"""The attribution graph drawn on a ``QGraphicsScene``: nodes placed by ``graph_layout`` (size by |effect|, colour by
sign: blue raises the target, red lowers it), the strongest edges (width by |weight|, colour by sign), node names
under the nodes, row titles on the left. Hovering a node shows its tooltip; clicking one selects it
(``nodeClicked``) and highlights its edges."""

from __future__ import annotations

import html

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneMouseEvent,
    QGraphicsSimpleTextItem,
    QWidget,
)

from ..app.attribution_run import GraphResult
from ..core.attribution.graph import Node, NodeKind
from . import theme
from .graph_layout import SLOT_W, Layout, layout, shown_token, sign_word, two_lines

POSITIVE, NEGATIVE = QColor(theme.TRACE_COLORS[0]), QColor(theme.TRACE_COLORS[3])  # blue raises, red lowers
ERROR_GREY = QColor(theme.TRACE_COLORS[9])


def sign_color(value: float, alpha: int = 255) -> QColor:
    c = QColor(POSITIVE if value >= 0 else NEGATIVE)
    c.setAlpha(alpha)
    return c


def node_tooltip(result: GraphResult, node: Node) -> str:
    """Rich text: the node's name, where it is, its activation and effect, and its top contexts."""
    g = result.graph
    esc = html.escape
    unit = "logit difference" if g.alt_token is not None else "logits"
    lines = [f"<b>{esc(result.name(node))}</b>"]
    where = f"“{esc(shown_token(g.tokens[node.position]))}” (position {node.position})" \
        if 0 <= node.position < len(g.tokens) else ""
    if node.kind is NodeKind.FEATURE:
        lines.append(f"feature #{node.feature} · layer {node.layer} · at {where}")
        lines.append(f"activation {node.activation:.3f}")
    elif node.kind is NodeKind.ERROR:
        lines.append(f"what the SAE at layer {node.layer} does not reconstruct, at {where}")
    elif node.kind is NodeKind.TOKEN:
        lines.append(f"prompt token at position {node.position}")
    else:
        lines.append(f"the model's next token: p = {100 * g.target_prob:.2f}% · value {g.target_value:+.3f} {unit}")
    if node.kind is not NodeKind.TARGET:
        lines.append(f"effect {node.effect:+.3f} {unit} (it {sign_word(node.effect)} the target)")
    if node.kind is NodeKind.FEATURE:
        contexts = result.text(node).contexts
        if contexts:
            lines.append("<i>top contexts:</i>")
            lines += [esc(c.replace("\n", "⏎")).replace("«", "<b>").replace("»", "</b>") for c in contexts]
        if result.opens_dashboard(node):
            lines.append("<i>click: select it here and open its dashboard</i>")
    return "<br>".join(lines)


class NodeItem(QGraphicsItem):
    """A node: a circle (feature), a square (error), a rounded box (token, target)."""

    def __init__(self, scene: GraphScene, index: int, node: Node, r: float, fill: QColor, edge: QColor):
        super().__init__()
        self.index, self.node, self.r = index, node, r
        self.fill, self.edge = fill, edge
        self.selected = False
        self.graph_scene = scene
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setZValue(2)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        m = self.r + 4
        return QRectF(-m, -m, 2 * m, 2 * m)

    def paint(self, painter, _option, _widget=None) -> None:
        pen = QPen(self.graph_scene.highlight if self.selected else self.edge, 3.0 if self.selected else 1.2)
        painter.setPen(pen)
        painter.setBrush(QBrush(self.fill))
        r, kind = self.r, self.node.kind
        if kind is NodeKind.FEATURE:
            painter.drawEllipse(QPointF(0, 0), r, r)
        elif kind is NodeKind.ERROR:
            painter.drawRect(QRectF(-r * 0.85, -r * 0.85, 1.7 * r, 1.7 * r))
        else:
            painter.drawRoundedRect(QRectF(-r, -r * 0.7, 2 * r, 1.4 * r), 4, 4)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.button() == Qt.MouseButton.LeftButton:
            self.graph_scene.nodeClicked.emit(self.index)
            event.accept()
        else:
            super().mousePressEvent(event)


class GraphScene(QGraphicsScene):
    nodeClicked = Signal(int)  # index into the graph's nodes

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.result: GraphResult | None = None
        self.layout: Layout | None = None
        self.items_by_index: dict[int, NodeItem] = {}
        self.edge_items: list[tuple[QGraphicsPathItem, int, int, QPen]] = []
        self.selected: int | None = None
        self.label_font = QFont()
        self.label_font.setPointSizeF(8.5)
        self.small = QFontMetricsF(self.label_font)
        self.highlight = QColor(255, 170, 0)
        self.text_color = QColor(30, 30, 30)

    def apply_palette(self, pal: QPalette) -> None:
        self.setBackgroundBrush(pal.color(QPalette.ColorRole.Base))
        self.text_color = pal.color(QPalette.ColorRole.Text)
        self.highlight = QColor(255, 170, 0) if theme.is_dark(pal) else QColor(230, 120, 0)
        if self.result is not None:
            self.show_result(self.result)

    # --- drawing -------------------------------------------------------------------------------------------------
    def show_result(self, result: GraphResult) -> None:
        selected = self.selected
        self.clear()
        self.items_by_index, self.edge_items, self.selected = {}, [], None
        self.result = result
        g = result.graph
        fm = self.small
        lay = self.layout = layout(g, lambda p: fm.horizontalAdvance(shown_token(g.tokens[p])) + 12,
                                   result.loaded_layer)
        self._title(result, lay)
        for title, y in lay.rows:
            t = self._text(title, bold=True)
            t.setPos(8, y - fm.height() / 2)
        pos = {p.index: p for p in lay.nodes}
        strongest = max((abs(e.weight) for e in lay.edges), default=0.0) or 1.0
        for e in lay.edges:
            a, b = pos[e.source], pos[e.target]
            rel = abs(e.weight) / strongest
            path = QPainterPath(QPointF(a.x, a.y - a.r))
            mid = (a.y + b.y) / 2
            path.cubicTo(QPointF(a.x, mid), QPointF(b.x, mid), QPointF(b.x, b.y + b.r))
            pen = QPen(sign_color(e.weight, int(60 + 170 * rel)), 0.6 + 4.4 * rel)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            item = self.addPath(path, pen)
            item.setZValue(1)
            self.edge_items.append((item, e.source, e.target, pen))
        for p in lay.nodes:
            self._node(result, p.index, p.x, p.y, p.r)
        self.setSceneRect(QRectF(0, 0, lay.width, lay.height))
        if selected is not None and selected in self.items_by_index:
            self.select(selected)

    def _title(self, result: GraphResult, lay: Layout) -> None:
        g = result.graph
        target = f"“{shown_token(g.target_token)}”" + (f" rather than “{shown_token(g.alt_token)}”"
                                                        if g.alt_token is not None else "")
        t = self._text(f"Why {target}?  p = {100 * g.target_prob:.2f}%", bold=True)
        t.setPos(8, 6)
        drawn = f"the strongest {len(lay.edges)} of {lay.n_edges} edges" if len(lay.edges) < lay.n_edges \
            else f"{lay.n_edges} edges"
        s = self._text(f"● feature  ■ error (what the SAE misses)  ▭ token · size: |effect| · blue raises the "
                       f"target, red lowers it · {drawn}")
        s.setPos(8, 8 + self.small.height() * 1.4)

    def _text(self, text: str, bold: bool = False) -> QGraphicsSimpleTextItem:
        t = self.addSimpleText(text)
        f = QFont(self.label_font)
        f.setBold(bold)
        t.setFont(f)
        t.setBrush(self.text_color)
        t.setZValue(3)
        return t

    def _node(self, result: GraphResult, index: int, x: float, y: float, r: float) -> None:
        n = result.graph.nodes[index]
        if n.kind is NodeKind.TARGET:
            r = max(r, self.small.horizontalAdvance(shown_token(result.graph.target_token)) / 2 + 8)
            fill, edge = QColor(self.highlight), self.text_color
        elif n.kind is NodeKind.TOKEN:
            r = max(r, 9.0)
            fill, edge = QColor(self.backgroundBrush().color()), sign_color(n.effect)
        elif n.kind is NodeKind.ERROR:
            fill, edge = sign_color(n.effect, 90), ERROR_GREY
        else:
            fill, edge = sign_color(n.effect, 210), sign_color(n.effect).darker(140)
        item = NodeItem(self, index, n, r, fill, edge)
        item.setPos(x, y)
        item.setToolTip(node_tooltip(result, n))
        self.addItem(item)
        self.items_by_index[index] = item
        fm = self.small
        if n.kind is NodeKind.TOKEN:
            label = shown_token(result.graph.tokens[n.position])
            lines = (fm.elidedText(label, Qt.TextElideMode.ElideRight, max(fm.horizontalAdvance(label), 40) + 2), "")
        elif n.kind is NodeKind.TARGET:
            lines = (shown_token(result.graph.target_token), "")
            t = self._text(lines[0], bold=True)
            t.setPos(x - fm.horizontalAdvance(lines[0]) / 2, y - fm.height() / 2)
            t.setBrush(QColor(20, 20, 20))
            return
        elif n.kind is NodeKind.ERROR:
            return  # the legend says what a square is; its tooltip says where
        else:
            lines = two_lines(result.name(n), lambda s: fm.horizontalAdvance(s) <= SLOT_W - 8)
        for k, line in enumerate(ln for ln in lines if ln):
            t = self._text(line)
            t.setPos(x - fm.horizontalAdvance(line) / 2, y + r + 3 + k * fm.height())

    # --- selection -----------------------------------------------------------------------------------------------
    def select(self, index: int | None) -> None:
        """Outline the node and show its edges strongly, the others faintly (None: back to all)."""
        if self.selected is not None and self.selected in self.items_by_index:
            self.items_by_index[self.selected].selected = False
            self.items_by_index[self.selected].update()
        self.selected = index
        if index is not None and index in self.items_by_index:
            self.items_by_index[index].selected = True
            self.items_by_index[index].update()
        for item, a, b, pen in self.edge_items:
            if index is None or index in (a, b):
                item.setPen(pen)
                item.setZValue(1.5 if index is not None else 1)
            else:
                faint = QPen(pen)
                c = QColor(pen.color())
                c.setAlpha(25)
                faint.setColor(c)
                item.setPen(faint)
                item.setZValue(1)
