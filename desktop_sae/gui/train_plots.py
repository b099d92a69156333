"""Live training curves of the "Train an SAE" dialog: loss, L0, explained variance and dead latents over the
tokens trained. The four curves are created once; ``set_points`` only notes the newest list and an idle-stopping
timer (``Ticker``) pushes it with ``setData`` at most every ``REFRESH_MS``."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QWidget

from .theme import TRACE_COLORS, plot_colors
from .ticker import Ticker

REFRESH_MS = 200
# (title, y label, value from a TrainPoint, fixed top of the y axis or None: 10 % above the data); y starts at 0
# (or lower, for a negative explained variance early on)
PANELS = (
    ("Loss", "normalised MSE", lambda p: p.loss, None),
    ("L0", "active latents / token", lambda p: p.l0, None),
    ("Explained variance", "fraction", lambda p: p.explained_variance, 1.0),
    ("Dead latents", "%", lambda p: 100 * p.dead_fraction, 100.0),
)


class TrainPlots(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        bg, _fg = plot_colors()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.plots: list[pg.PlotWidget] = []
        self.curves: list[pg.PlotDataItem] = []
        for i, (title, ylabel, _get, top) in enumerate(PANELS):
            p = pg.PlotWidget(background=bg, title=title)
            p.setMenuEnabled(False)
            p.hideButtons()
            p.showGrid(x=True, y=True, alpha=0.2)
            p.setLabel("left", ylabel)
            p.getAxis("left").enableAutoSIPrefix(False)  # no "(x0.001)": the values are shown as they are
            p.setLabel("bottom", "trained", units="tokens")
            p.setMinimumHeight(140)
            p.setMouseEnabled(x=True, y=False)
            p.enableAutoRange(y=False)
            p.setYRange(0.0, top or 1.0, padding=0.02)
            self.curves.append(p.plot(pen=pg.mkPen(TRACE_COLORS[i], width=2)))
            self.plots.append(p)
            grid.addWidget(p, i // 2, i % 2)
        self.points: list = []
        self.draws = 0
        self.ticker = Ticker(REFRESH_MS, self.redraw, self)

    def set_points(self, points) -> None:
        """The whole curve so far (a list of TrainPoints); drawn at the next tick."""
        self.points = points
        self.ticker.poke()

    def clear(self) -> None:
        self.points = []
        self.ticker.flush()

    def redraw(self) -> None:
        pts = list(self.points)
        x = np.array([p.tokens for p in pts], dtype=np.float64)
        for plot, curve, (_t, _y, get, top) in zip(self.plots, self.curves, PANELS):
            y = np.array([get(p) for p in pts], dtype=np.float64)
            curve.setData(x, y)
            if len(y):
                lo, hi = min(0.0, float(y.min())), top or 1.1 * float(y.max())
                plot.setYRange(lo, max(hi, lo + 1e-6), padding=0.02)
        self.draws += 1

    def curve_data(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """What panel ``i`` shows now (x, y)."""
        x, y = self.curves[i].getData()
        return (np.array([]), np.array([])) if x is None else (x, y)
