"""Plot pieces of the toy lab: a titled card with "Copy as image", arrows from the origin in a plane, a loss
curve and a strip of colour swatches. Items are created once (arrow layers grow to the largest count seen and
hide what they do not need) and updated with ``setData`` / ``setPos``."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from .plot_export import copy_button
from .theme import plot_colors

HUE_MOST, HUE_LEAST = 1.0, 0.6  # red (360 degrees) down through magenta to blue (216 degrees)


def importance_colors(importance) -> list[QColor]:
    """Red for the most important feature, through magenta and violet, to blue for the least (of this set)."""
    imp = np.asarray(importance, dtype=np.float64)
    lo, hi = float(imp.min()), float(imp.max())
    out = []
    for v in imp:
        t = 0.0 if hi - lo < 1e-12 else (hi - v) / (hi - lo)
        out.append(QColor.fromHsvF((HUE_MOST + (HUE_LEAST - HUE_MOST) * t) % 1.0, 0.8, 0.9))
    return out


class PlotCard(QFrame):
    """A title, an optional note, a "Copy as image" button and the plot under them."""

    def __init__(self, title: str, plot: QWidget, note: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = plot
        self.title = QLabel(f"<b>{title}</b>")
        self.note = QLabel(note)
        self.note.setWordWrap(True)
        self.copy = copy_button(plot, self)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.copy)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addLayout(head)
        lay.addWidget(self.note)
        lay.addWidget(plot, 1)
        self.note.setVisible(bool(note))  # only once it has a parent: a parentless visible label is a window


def plot_widget(**labels) -> pg.PlotWidget:
    bg, _fg = plot_colors()
    p = pg.PlotWidget(background=bg)
    p.showGrid(x=True, y=True, alpha=0.2)
    p.setMenuEnabled(False)
    p.hideButtons()
    for side, text in labels.items():
        p.setLabel(side, text)
    return p


class ArrowLayer:
    """Arrows from the origin to each row of ``vectors``, with a label past each tip."""

    def __init__(self, plot: ArrowPlot, width: float, dashed: bool, head: int, font_pt: int, z: float):
        self.plot, self.width, self.dashed, self.head, self.z = plot, width, dashed, head, z
        self.font = QFont()
        self.font.setPointSize(font_pt)
        self.font.setBold(True)
        self.items: list[tuple[pg.PlotCurveItem, pg.ArrowItem, pg.TextItem]] = []
        self.vectors = np.zeros((0, 2))
        self.colors: list[QColor] = []
        self.labels: list[str] = []

    def _grow(self, k: int) -> None:
        while len(self.items) < k:
            shaft = pg.PlotCurveItem()
            tip = pg.ArrowItem(headLen=self.head, tipAngle=32, tailLen=None, pen=None)
            label = pg.TextItem(anchor=(0.5, 0.5))
            label.setFont(self.font)
            for it in (shaft, tip, label):
                it.setZValue(self.z)
                self.plot.addItem(it)
            self.items.append((shaft, tip, label))

    def set_arrows(self, vectors, colors, labels=None) -> None:
        """Draw one arrow per row of ``vectors`` (k x 2) in ``colors``; hide the arrows left over."""
        v = np.asarray(vectors, dtype=np.float64).reshape(-1, 2)
        self.vectors, self.colors = v, [QColor(c) for c in colors]
        self.labels = list(labels) if labels is not None else [""] * len(v)
        self._grow(len(v))
        self.redraw()

    def redraw(self) -> None:
        px = self.plot.getViewBox().viewPixelSize()[0] or 0.01
        for i, (shaft, tip, label) in enumerate(self.items):
            shown = i < len(self.vectors)
            for it in (shaft, tip, label):
                it.setVisible(shown)
            if not shown:
                continue
            x, y = self.vectors[i]
            r, c = math.hypot(x, y), self.colors[i]
            pen = pg.mkPen(c, width=self.width, style=Qt.PenStyle.DashLine if self.dashed else Qt.PenStyle.SolidLine)
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            back = min(1.0, 0.7 * self.head * px / r) if r > 0 else 0.0  # end the shaft inside the head
            shaft.setData([0.0, x * (1 - back)], [0.0, y * (1 - back)], pen=pen)
            tip.setVisible(r > 0.05)
            tip.setStyle(angle=180.0 - math.degrees(math.atan2(y, x)), brush=c)
            tip.setPos(x, y)
            text = self.labels[i]
            label.setVisible(bool(text) and r > 0.25)
            if text and r > 0:
                gap = 0.13 * self.plot.radius
                label.setText(text, color=c)
                label.setPos(x + gap * x / r, y + gap * y / r)

    @property
    def tips(self) -> list[tuple[float, float]]:
        return [(float(x), float(y)) for x, y in self.vectors]

    @property
    def visible_count(self) -> int:
        return sum(1 for s, _t, _l in self.items if s.isVisible())


class ArrowPlot(pg.PlotWidget):
    """A square view of the 2-D hidden space: unit circle, axes through the origin, layers of arrows."""

    def __init__(self, radius: float = 1.5, parent: QWidget | None = None):
        bg, fg = plot_colors()
        super().__init__(parent=parent, background=bg)
        self.radius = radius
        self.setAspectLocked(True)
        self.setMouseEnabled(x=False, y=False)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.showGrid(x=True, y=True, alpha=0.15)
        self.setLabel("bottom", "hidden dimension 1")
        self.setLabel("left", "hidden dimension 2")
        self.setMinimumSize(320, 320)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        ring = QColor(fg)
        ring.setAlpha(110)
        t = np.linspace(0, 2 * np.pi, 121)
        self.addItem(pg.PlotCurveItem(np.cos(t), np.sin(t), pen=pg.mkPen(ring, width=1.5, style=Qt.PenStyle.DashLine)))
        self.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen(ring, width=1)))
        self.addItem(pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen(ring, width=1)))
        self.layers: dict[str, ArrowLayer] = {}
        self._set_radius(radius)
        self.getViewBox().sigResized.connect(self._redraw)

    def layer(
        self, name: str, width: float = 6.0, dashed: bool = False, head: int = 26, font_pt: int = 15, z: float = 10.0
    ) -> ArrowLayer:
        if name not in self.layers:
            self.layers[name] = ArrowLayer(self, width, dashed, head, font_pt, z)
        return self.layers[name]

    def fit(self, vectors) -> None:
        """Widen the view (never narrow it) so the longest vector and its label fit."""
        v = np.asarray(vectors, dtype=np.float64).reshape(-1, 2)
        longest = float(np.hypot(v[:, 0], v[:, 1]).max()) if len(v) else 0.0
        if longest * 1.25 > self.radius:
            self._set_radius(math.ceil(longest * 1.3 * 4) / 4)

    def _set_radius(self, r: float) -> None:
        self.radius = r
        self.setRange(xRange=(-r, r), yRange=(-r, r), padding=0.02)

    def _redraw(self, *_args) -> None:
        for lay in self.layers.values():
            lay.redraw()


class LossPlot(pg.PlotWidget):
    """Training loss, one point per snapshot (the mean since the previous one), on an axis from 0."""

    def __init__(self, parent: QWidget | None = None):
        bg, fg = plot_colors()
        super().__init__(parent=parent, background=bg)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMouseEnabled(x=False, y=False)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setLabel("bottom", "training step")
        self.setLabel("left", "loss")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.setMinimumHeight(120)
        self.curve = self.plot([], [], pen=pg.mkPen(fg, width=2))
        self.steps: list[float] = []
        self.losses: list[float] = []

    def reset(self) -> None:
        self.steps, self.losses = [], []
        self.curve.setData([], [])

    def add(self, step: int, loss: float) -> None:
        self.steps.append(float(step))
        self.losses.append(float(loss))
        self.curve.setData(self.steps, self.losses)
        self.setYRange(0.0, max(self.losses) * 1.05, padding=0)


class SwatchStrip(QWidget):
    """The spectrum's colours as a row of swatches, with their wavelength under some of them."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.colors: list[QColor] = []
        self.names: list[str] = []
        self.setMinimumHeight(46)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_colors(self, rgb, names) -> None:
        self.colors = [QColor.fromRgbF(*map(float, c)) for c in rgb]
        self.names = list(names)
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt's name
        if not self.colors:
            return
        p = QPainter(self)
        k, w, h = len(self.colors), self.width(), self.height()
        cell = w / k
        text_h = 16
        for i, c in enumerate(self.colors):
            p.fillRect(QRectF(i * cell + 1, 0, cell - 2, h - text_h), c)
            if k <= 20 or i % 2 == 0:
                p.setPen(self.palette().text().color())
                p.drawText(QRectF(i * cell, h - text_h, cell, text_h), Qt.AlignmentFlag.AlignCenter, self.names[i])
        p.end()
