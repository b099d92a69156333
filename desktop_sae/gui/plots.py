"""Live plots (pyqtgraph): a strip chart of the pinned features' activation per answer token and a bar chart of
one token's top features. Curves and bars are created once; data is pushed with ``setData`` from a ~30 Hz timer
only when something changed, never once per token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..core.engine.run_names import Run
from ..core.features.naming import elide
from .plot_export import copy_button
from .theme import TRACE_COLORS, plot_colors
from .ticker import Ticker

pg.setConfigOptions(antialias=False, useOpenGL=False)
REFRESH_MS = 33  # strip chart: ~30 Hz
BARS_MS = 100  # token bar chart: ~10 Hz is plenty for a per-token readout
X_CHUNK = 50  # the x axis grows in steps, so axes are not re-laid out on every frame

if TYPE_CHECKING:
    from ..core.engine.generation import TokenEvent

SAME_ANSWER = {Run.MAIN: Run.STEERED, Run.STEERED: Run.MAIN}  # side by side's steered answer is the main one


class StripChart(QWidget):
    """Activation of each pinned feature per generated token; steered (solid) and default (dashed) traces."""

    def __init__(self, parent=None):
        super().__init__(parent)
        bg, fg = plot_colors()
        self.plot = pg.PlotWidget(background=bg)
        self.plot.setLabel("bottom", "answer token")
        self.plot.setLabel("left", "activation")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.enableAutoRange(x=False, y=True)
        self.plot.setXRange(0, X_CHUNK, padding=0.02)
        self._x_end = X_CHUNK
        self.legend = self.plot.addLegend(offset=(5, 5), labelTextSize="8pt")
        self.plot.setToolTip(
            "Activation of each pinned feature on every token of the answer, updated while it streams.\n"
            "Solid: the (steered) answer; dashed: the default answer in side-by-side mode."
        )
        self.copy_btn = copy_button(self.plot)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        lay.addWidget(self.copy_btn, 0, Qt.AlignmentFlag.AlignRight)
        self.features: tuple[int, ...] = ()
        self.curves: dict[tuple[Run, int], pg.PlotDataItem] = {}
        self.data: dict[Run, list[np.ndarray]] = {}
        self.watch_pos: dict[int, int] = {}  # feature -> column in TokenEvent.watched
        self.ticker = Ticker(REFRESH_MS, self.refresh, self)

    def set_features(self, features: Sequence[int], labels: dict[int, str] | None = None,
                     runs: Sequence[Run] = (Run.MAIN,)) -> None:
        """(Re)create one curve per feature and run; call when the pinned set or the mode changes."""
        features = tuple(features)
        key = (features, tuple(runs), tuple(sorted((labels or {}).items())))
        if key == getattr(self, "_key", None):
            return
        self._key = key
        for c in self.curves.values():
            self.plot.removeItem(c)
        self.legend.clear()
        self.curves = {}
        self.features = features
        for i, f in enumerate(features):
            color = TRACE_COLORS[i % len(TRACE_COLORS)]
            for run in runs:
                dashed = run == Run.DEFAULT
                pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
                name = elide(f"#{f} {(labels or {}).get(f, '')}".strip(), 18) + (" (default)" if dashed else "")
                self.curves[(run, f)] = self.plot.plot([], [], pen=pen, name=name)
        self.ticker.poke()

    def begin(self, watch: tuple[int, ...]) -> None:
        """A new generation started with these watched feature ids."""
        self.watch_pos = {f: i for i, f in enumerate(watch)}
        self.data = {}
        self.ticker.poke()
        self._set_x_end(X_CHUNK)

    def _set_x_end(self, end: int) -> None:
        if end != self._x_end:
            self._x_end = end
            self.plot.setXRange(0, end, padding=0.02)

    def append(self, ev: TokenEvent) -> None:
        if ev.is_prompt or ev.watched is None:
            return
        self.data.setdefault(ev.run, []).append(ev.watched)
        self.ticker.poke()

    def n_points(self, run: Run = Run.MAIN) -> int:
        """Points currently drawn on the first curve of ``run`` (what the user sees)."""
        for (r, _f), c in self.curves.items():
            if r == run:
                x, _ = c.getData()
                return 0 if x is None else len(x)
        return 0

    def refresh(self) -> None:
        longest = max((len(v) for v in self.data.values()), default=0)
        self._set_x_end(max(X_CHUNK, -(-longest // X_CHUNK) * X_CHUNK))
        for (run, f), curve in self.curves.items():
            rows = self.data.get(run) or self.data.get(SAME_ANSWER.get(run, run), [])
            col = self.watch_pos.get(f)
            if not rows or col is None:
                curve.setData([], [])
                continue
            y = np.fromiter((r[col] for r in rows), np.float32, len(rows))
            curve.setData(np.arange(len(y)), y, skipFiniteCheck=True)

    def apply_theme(self) -> None:
        bg, _ = plot_colors()
        self.plot.setBackground(bg)


class TokenFeatures(QWidget):
    """Bar chart and list of one token's strongest features; clicking a row selects that feature."""

    featureClicked = Signal(int)
    N = 10

    def __init__(self, parent=None):
        super().__init__(parent)
        bg, _ = plot_colors()
        self.title = QLabel("Hover or click a token to see its top features")
        self.title.setWordWrap(True)
        self.plot = pg.PlotWidget(background=bg)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("left", "activation")
        self.bars = pg.BarGraphItem(x=np.arange(self.N), height=np.zeros(self.N), width=0.7, brush="#ff8c00")
        self.plot.addItem(self.bars)
        font = self.plot.getAxis("bottom").style.get("tickFont") or self.font()
        font.setPointSizeF(max(6.0, self.font().pointSizeF() * 0.75))
        self.plot.getAxis("bottom").setStyle(tickFont=font)
        self.list = QListWidget()
        self.list.setToolTip("Click a feature to open it in the feature panel")
        self.list.itemClicked.connect(lambda it: self.featureClicked.emit(int(it.data(Qt.ItemDataRole.UserRole))))
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plot)
        split.addWidget(self.list)
        split.setSizes([300, 200])
        self.copy_btn = copy_button(self)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.copy_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(head)
        lay.addWidget(split)
        self._pending = None
        self.ticker = Ticker(BARS_MS, self._flush, self)

    def show_token(self, ev, label_of=lambda f: "") -> None:
        """Show ``ev``'s top features (applied on the next timer tick; repeated calls just replace it)."""
        self._pending = (ev, label_of)
        self.ticker.poke()

    def clear(self) -> None:
        """Forget the token shown (another SAE: its feature ids mean something else)."""
        self._pending = None
        self.title.setText("Hover or click a token to see its top features")
        self.list.clear()
        self.bars.setOpts(height=np.zeros(self.N))

    def _flush(self) -> None:
        if self._pending is None:
            return
        ev, label_of = self._pending
        self._pending = None
        text = ev.text.replace("\n", "\\n")
        self.title.setText(f"Token {ev.index}: <b>{_esc(text)!s}</b>" + (" (special)" if ev.is_special else ""))
        self.list.clear()
        if ev.top_ids is None:
            self.bars.setOpts(height=np.zeros(self.N))
            return
        keep = [(int(i), float(v)) for i, v in zip(ev.top_ids, ev.top_vals) if v > 0][: self.N]
        h = np.zeros(self.N)
        h[: len(keep)] = [v for _, v in keep]
        self.bars.setOpts(height=h)
        ax = self.plot.getAxis("bottom")
        ax.setTicks([[(i, str(f)) for i, (f, _) in enumerate(keep)]])
        for f, v in keep:
            it = QListWidgetItem(f"#{f}  {v:.2f}  {label_of(f)}")
            it.setData(Qt.ItemDataRole.UserRole, f)
            self.list.addItem(it)

    def apply_theme(self) -> None:
        bg, _ = plot_colors()
        self.plot.setBackground(bg)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
