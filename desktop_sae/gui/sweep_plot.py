"""The strength-sweep plot: concept and combined scores (top) and NLL / KL in nats (bottom) against strength on a log
axis (x = log10 strength, ticks at the swept strengths). Curves and markers are created once and updated with
``setData`` as points arrive; hovering reports the nearest strength (``hovered(index)``)."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from .theme import TRACE_COLORS, plot_colors

SWEET, DEGEN = "#2ca02c", "#d62728"


class SweepPlot(QWidget):
    hovered = Signal(int)  # index of the strength nearest the mouse

    def __init__(self, parent=None):
        super().__init__(parent)
        bg, _fg = plot_colors()
        self.top = pg.PlotWidget(background=bg)
        self.bottom = pg.PlotWidget(background=bg)
        for p in (self.top, self.bottom):
            p.showGrid(x=True, y=True, alpha=0.2)
            p.setMouseEnabled(x=False, y=False)
        self.bottom.setXLink(self.top)
        self.top.setLabel("left", "score (0-1)")
        self.top.setYRange(-0.05, 1.1, padding=0)
        self.bottom.setLabel("left", "nats")
        self.bottom.setLabel("bottom", "strength")
        self.top.addLegend(offset=(-5, 5), labelTextSize="8pt")  # top right, clear of a sweet spot at the left
        self.bottom.addLegend(offset=(5, -5), labelTextSize="8pt")  # bottom left, clear of the threshold label
        c = TRACE_COLORS
        sym = dict(symbol="o", symbolSize=7)
        self.curves = {
            "concept": self.top.plot([], [], name="concept", pen=pg.mkPen(c[0], width=2), symbolBrush=c[0], **sym),
            "reread": self.top.plot([], [], name="feature re-read (× max)", pen=pg.mkPen(c[2], width=1,
                                    style=pg.QtCore.Qt.DashLine)),
            "combined": self.top.plot([], [], name="combined", pen=pg.mkPen(c[1], width=2), symbolBrush=c[1], **sym),
            "nll": self.bottom.plot([], [], name="NLL (unsteered model)", pen=pg.mkPen(c[3], width=2),
                                    symbolBrush=c[3], **sym),
            "kl": self.bottom.plot([], [], name="KL steered ‖ default", pen=pg.mkPen(c[4], width=2),
                                   symbolBrush=c[4], **sym),
        }
        self.threshold = pg.InfiniteLine(angle=0, pen=pg.mkPen(DEGEN, style=pg.QtCore.Qt.DotLine),
                                         label="fluency threshold", labelOpts={"position": 0.92, "color": DEGEN})
        self.bottom.addItem(self.threshold)
        self.threshold.hide()
        def vline(color, text, dash=False, pos=0.9):
            pen = pg.mkPen(color, width=2, style=pg.QtCore.Qt.DashLine if dash else pg.QtCore.Qt.SolidLine)
            return pg.InfiniteLine(angle=90, pen=pen, label=text, labelOpts={"position": pos, "color": color})

        self.sweet = [vline(SWEET, "sweet spot"), vline(SWEET, None)]
        self.degen = [vline(DEGEN, "degenerates", True, 0.75), vline(DEGEN, None, True)]
        for p, a, b in ((self.top, self.sweet[0], self.degen[0]), (self.bottom, self.sweet[1], self.degen[1])):
            p.addItem(a)
            p.addItem(b)
            a.hide()
            b.hide()
        self.hover_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888888", width=1))
        self.top.addItem(self.hover_line)
        self.hover_line.hide()
        self.xs: list[float] = []
        for p in (self.top, self.bottom):
            p.scene().sigMouseMoved.connect(lambda pos, p=p: self._mouse(p, pos))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.top, 3)
        lay.addWidget(self.bottom, 2)

    def set_range(self, strengths) -> None:
        xs = [float(s) for s in strengths if s > 0]
        if xs:
            self.top.setXRange(math.log10(min(xs)), math.log10(max(xs)), padding=0.05)
            ticks = [[(math.log10(s), f"{s:.3g}") for s in xs]]
            for p in (self.top, self.bottom):
                p.getAxis("bottom").setTicks(ticks)

    def clear(self) -> None:
        for c in self.curves.values():
            c.setData([], [])
        for line in (*self.sweet, *self.degen, self.hover_line, self.threshold):
            line.hide()
        self.xs = []

    def set_points(self, points, threshold: float | None) -> None:
        """``points``: SweepPoints so far (any order of arrival; drawn sorted by strength)."""
        pts = sorted((p for p in points if p.strength > 0), key=lambda p: p.strength)
        self.xs = [p.strength for p in pts]
        x = np.log10(np.array(self.xs, float))
        val = lambda f: np.array([f(p) for p in pts], float)  # noqa: E731
        self.curves["concept"].setData(x, val(lambda p: p.concept))
        self.curves["reread"].setData(x, val(lambda p: min(p.measured.reread, 1.05)))
        self.curves["combined"].setData(x, val(lambda p: p.combined))
        self.curves["nll"].setData(x, val(lambda p: p.measured.nll))
        self.curves["kl"].setData(x, val(lambda p: p.kl))
        if threshold is not None and math.isfinite(threshold):
            self.threshold.setValue(threshold)
            self.threshold.show()

    def mark(self, sweet: float | None, degen: float | None) -> None:
        for lines, s in ((self.sweet, sweet), (self.degen, degen)):
            for line in lines:
                if s is None or s <= 0:
                    line.hide()
                else:
                    line.setValue(math.log10(s))
                    line.show()

    def nearest(self, log_x: float) -> int | None:
        if not self.xs:
            return None
        return int(np.argmin([abs(math.log10(s) - log_x) for s in self.xs]))

    def _mouse(self, plot, pos) -> None:
        if not plot.sceneBoundingRect().contains(pos) and not plot.plotItem.vb.sceneBoundingRect().contains(pos):
            return
        i = self.nearest(plot.plotItem.vb.mapSceneToView(pos).x())
        if i is not None:
            self.hover_line.setValue(math.log10(self.xs[i]))
            self.hover_line.show()
            self.hovered.emit(i)

    def scene_pos_of(self, strength: float):
        """Scene position of ``strength`` on the top plot's x axis, mid height (tests hover with it)."""
        vb = self.top.plotItem.vb
        y = sum(vb.viewRange()[1]) / 2
        return vb.mapViewToScene(pg.QtCore.QPointF(math.log10(strength), y))
