""""Why this token?": the attribution graph of an answer token in its own window. The graph computes on the worker
(``app.attribution_run.AttributionRun``) with progress and Stop; the canvas shows it (``graph_scene``), the side
panel its target, alternative token, scores and the selected node's Ablate / Steer to (``graph_panel``). Export PNG
and Export JSON (circuit-tracer / Neuronpedia graph JSON) write atomically."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QByteArray, QEvent, QIODevice, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..app.attribution_run import AnswerToken, AttributionRun, GraphRequest, chat_request
from ..app.controller import Controller
from ..app.runs import RunChange, RunStatus
from ..core.attribution.graph import NodeKind
from ..core.support.atomic import atomic_write_bytes, atomic_write_text
from .graph_panel import GraphPanel, intervention_text
from .graph_scene import GraphScene
from .lifetime import bind, own_run
from .run_progress import show_progress

if TYPE_CHECKING:
    from .main_window import MainWindow

READABLE = 0.85  # a new graph is shown this large (names readable), scrolled to the target ...
READABLE_FLOOR = 0.5  # ... or smaller, down to this, so that every row shows
PNG_SCALE = 2.0  # the exported picture, in pixels per scene unit (at most MAX_PNG_SIDE)
MAX_PNG_SIDE = 8000


class GraphCanvas(QGraphicsView):
    """The scene, fitted to the window until the user zooms (Ctrl+wheel) or drags."""

    def __init__(self, scene: GraphScene, parent: QWidget | None = None):
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.auto_fit = True
        self.focus: QPointF | None = None  # what a readable fit scrolls to (the target)

    def fit(self, readable: bool = False) -> None:
        """The whole graph; with ``readable``, no smaller than the names can be read (then scrolled to ``focus``,
        or to the right end)."""
        self.auto_fit = readable
        rect = self.sceneRect()
        if rect.isEmpty():
            return
        self.resetTransform()
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        s = self.transform().m11()
        if s > 1.0 or (readable and s < READABLE):
            tall = self.viewport().height() / max(rect.height(), 1.0)  # the scale that shows every row
            s = min(max(s, min(READABLE, tall), READABLE_FLOOR if readable else 0.0), 1.0)
            self.resetTransform()
            self.scale(s, s)
            focus = self.focus if self.focus is not None else QPointF(rect.right(), rect.top())
            self.centerOn(QPointF(focus.x(), rect.center().y()))

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.auto_fit = False
            f = 1.15 if event.angleDelta().y() > 0 else 1 / 1.15
            self.scale(f, f)
        else:
            super().wheelEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self.auto_fit:
            self.fit(readable=True)


class GraphView(QDialog):
    featureRequested = Signal(int)  # a feature of the loaded SAE: open its dashboard

    def __init__(self, controller: Controller, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Why this token? — attribution graph")
        self.ctl = controller
        self.run = AttributionRun(controller.jobs, controller.model)
        own_run(self, self.run)
        self.scene = GraphScene(self)
        self.scene.apply_palette(self.palette())
        self.canvas = GraphCanvas(self.scene)
        self.panel = GraphPanel()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.canvas)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 1)
        split.setSizes([1000, 400])
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(220)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setToolTip("Stop computing the graph (the last graph stays)")
        self.fit_btn = QPushButton("Fit")
        self.fit_btn.setToolTip("Show the whole graph (Ctrl+wheel zooms, drag scrolls)")
        self.png_btn = QPushButton("Export PNG…")
        self.json_btn = QPushButton("Export JSON…")
        self.json_btn.setToolTip("The graph as circuit-tracer / Neuronpedia graph JSON, with this app's measures")
        self.stop_btn.clicked.connect(self.run.cancel)
        self.fit_btn.clicked.connect(lambda: self.canvas.fit())
        self.png_btn.clicked.connect(self._export_png_dialog)
        self.json_btn.clicked.connect(self._export_json_dialog)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress)
        bottom.addWidget(self.stop_btn)
        bottom.addWidget(self.status, 1)
        for b in (self.fit_btn, self.png_btn, self.json_btn):
            bottom.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addWidget(split, 1)
        lay.addLayout(bottom)
        self.scene.nodeClicked.connect(self.select_node)
        self.panel.alternativeChosen.connect(self.run.with_alternative)
        self.panel.ablateRequested.connect(lambda: self.intervene(0.0))
        self.panel.steerRequested.connect(self.intervene)
        self.panel.dashboardRequested.connect(self._dashboard)
        bind(self.run.changed, self, self._on_run)
        bind(self.run.edit.changed, self, self._on_edit)
        self.resize(1400, 820)
        self._enable()

    # --- actions -------------------------------------------------------------------------------------------------
    def explain(self, request: GraphRequest) -> int:
        """Compute and show the graph of ``request``."""
        self.progress.setValue(0)
        self.status.setText("Computing the graph…")
        job = self.run.start(request)
        self._enable()
        return job

    def select_node(self, index: int | None) -> None:
        shown = self.run.shown
        if shown is None or index is None or not 0 <= index < len(shown.graph.nodes):
            self.scene.select(None)
            self.panel.show_node(None)
            return
        node = shown.graph.nodes[index]
        self.scene.select(index)
        self.panel.show_node(node)
        self._enable()
        if shown.opens_dashboard(node):
            self.featureRequested.emit(node.feature)

    def intervene(self, value: float) -> int | None:
        node = self.panel.node
        if node is None or node.kind is not NodeKind.FEATURE or self.run.running or self.run.shown is None:
            return None
        self.panel.show_effect("Running the model with the edit…")
        return self.run.intervene(node, value)

    def _dashboard(self) -> None:
        node = self.panel.node
        if node is not None and node.kind is NodeKind.FEATURE:
            self.featureRequested.emit(node.feature)

    # --- the runs ------------------------------------------------------------------------------------------------
    def _on_run(self, what: RunChange) -> None:
        if show_progress(what, self.run, self.progress, self.status):
            return
        run, shown = self.run, self.run.shown
        if run.status == RunStatus.DONE and shown is not None:
            self.progress.setValue(100)
            self._show()
            g = shown.graph
            self.status.setText(f"Done in {g.seconds:.1f} s. Hover a node for its name and contexts; click one to "
                                "select it (a feature of the loaded SAE also opens its dashboard).")
        elif run.status == RunStatus.CANCELLED:
            if shown is not None and self.scene.result is not shown:
                self._show()
            self.status.setText("Stopped." + (" The graph shown is the last one finished." if shown else ""))
        elif run.status == RunStatus.FAILED:
            self.status.setText(f"Could not build the graph: {run.error}")
        elif run.status == RunStatus.CANCELLING:
            self.status.setText("Stopping…")
        self._enable()

    def _show(self) -> None:
        shown = self.run.shown
        if shown is None:
            return
        self.scene.show_result(shown)
        self.panel.show_result(shown)
        self.scene.select(None)
        target = next((i for i in self.scene.items_by_index.values() if i.node.kind is NodeKind.TARGET), None)
        self.canvas.focus = target.pos() if target is not None else None
        self.canvas.fit(readable=True)

    def _on_edit(self, _what: RunChange) -> None:
        edit, shown = self.run.edit, self.run.shown
        if edit.status == RunStatus.DONE and edit.result is not None and shown is not None:
            what = "ablated" if edit.value == 0 else f"set to {edit.value:g}"
            self.panel.show_effect(f"<b>{what}:</b> {intervention_text(shown, edit.result)}")
        elif edit.status == RunStatus.FAILED:
            self.panel.show_effect(f"Could not run it: {edit.error}")

    def _enable(self) -> None:
        busy = self.run.running
        self.stop_btn.setEnabled(busy)
        self.panel.set_busy(busy)
        for b in (self.png_btn, self.json_btn, self.fit_btn):
            b.setEnabled(self.run.shown is not None)

    # --- export --------------------------------------------------------------------------------------------------
    def _default_name(self) -> str:
        shown = self.run.shown
        word = re.sub(r"[^\w]+", "_", shown.graph.target_token).strip("_") if shown is not None else ""
        return f"why_{word or 'token'}"

    def _export_png_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the graph as PNG", self._default_name() + ".png",
                                              "PNG images (*.png)")
        if path:
            self.export_png(path)

    def _export_json_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the graph as JSON", self._default_name() + ".json",
                                              "Graph JSON (*.json)")
        if path:
            self.export_json(path)

    def png_bytes(self) -> bytes:
        """The whole scene (not only what the window shows) as a PNG."""
        rect = self.scene.sceneRect()
        scale = min(PNG_SCALE, MAX_PNG_SIDE / max(rect.width(), rect.height(), 1.0))
        img = QImage(max(1, int(rect.width() * scale)), max(1, int(rect.height() * scale)),
                     QImage.Format.Format_ARGB32)
        img.fill(self.scene.backgroundBrush().color())
        painter = QPainter(img)
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.scene.render(painter, QRectF(0, 0, img.width(), img.height()), rect)
        painter.end()
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        QPixmap.fromImage(img).save(buf, "PNG")
        buf.close()
        return bytes(data.data())

    def export_png(self, path: str | Path) -> Path:
        atomic_write_bytes(path, self.png_bytes())
        self.status.setText(f"Saved {path}")
        return Path(path)

    def export_json(self, path: str | Path) -> Path:
        from ..core.attribution.graph_json import to_json

        shown = self.run.shown
        if shown is None:
            raise ValueError("no graph to export")
        names = shown.features
        doc = to_json(shown.graph, slug=self._default_name(),
                      labeler=lambda layer, f: names[(layer, f)].name if (layer, f) in names else f"#{f}")
        atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False))
        self.status.setText(f"Saved {path}")
        return Path(path)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the theme changed: redraw in its colours
            self.scene.apply_palette(self.palette())

    def done(self, r: int) -> None:
        self.run.cancel()
        super().done(r)


# --- opening it from the window -----------------------------------------------------------------------------------
def open_graph_view(win: MainWindow) -> GraphView:
    """The window's graph view (one, kept between openings), shown and raised."""
    if win.graph_view is None:
        win.graph_view = GraphView(win.controller, win)
        win.graph_view.featureRequested.connect(win.open_dashboard)
    view = win.graph_view
    view.show()
    view.raise_()
    return view


def why_this_token(win: MainWindow, token: AnswerToken | None) -> int | None:
    """"Why this token?" on an answer token (None: there is no answer yet): the graph in the graph view."""
    notices = win.controller.notices
    if token is None:
        notices.set_status("Why this token? Ask something first: the graph explains a token of an answer.")
        return None
    try:
        request = chat_request(win.controller.conversation, token)
    except ValueError as e:
        notices.set_status(f"Why this token? {str(e)[0].upper()}{str(e)[1:]}.")
        return None
    return open_graph_view(win).explain(request)
