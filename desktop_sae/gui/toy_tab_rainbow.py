"""The toy lab's "Autoencoder vs sparse autoencoder" tab: the rainbow analogy.

Every colour of the spectrum goes through (a) a dense 3-unit bottleneck, which describes it with three numbers
like RGB, and (b) a wide layer where only one unit may fire. The plots show each colour's three numbers, which
unit fires for it, and how well each model gives the colour back.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..app.job_handles import Jobs
from ..app.jobs import JobFn
from ..app.messages import JobKind
from ..app.toy_jobs import rainbow_job
from ..core.classroom.toy.rainbow import RainbowConfig, RainbowResult
from .theme import TRACE_COLORS, plot_colors
from .toy_plots import PlotCard, SwatchStrip, plot_widget
from .toy_widgets import JobTab, big_label

CAPTION = (
    "<b>Naming colours.</b> Squeeze every colour of the rainbow through <b>3 numbers</b> (like RGB) and each colour "
    "becomes a <i>mix</i>: neighbouring colours get similar mixes and come back blurred. Give the layer <b>many "
    "units but let only one fire</b>, and each colour gets a unit of its own — a clean, nameable <i>feature</i> — "
    "and comes back almost exactly. A sparse autoencoder does this for a language model's activations."
)


class RainbowTab(JobTab):
    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(jobs, JobKind.TOY_RAINBOW, "Run the rainbow", parent)
        self.result: RainbowResult | None = None
        _bg, fg = plot_colors()
        caption = QLabel(CAPTION)
        caption.setWordWrap(True)
        self.summary = big_label(1.25)
        self.summary.setText("Press <b>Run the rainbow</b> to train both models on the spectrum (a few seconds).")
        self.swatches = SwatchStrip()

        self.codes_plot = plot_widget(bottom="colour (wavelength, nm)", left="code value")
        self.codes_plot.addLegend(offset=(8, 2), colCount=3, labelTextColor=fg)
        self.code_curves = [
            self.codes_plot.plot(
                [],
                [],
                pen=pg.mkPen(TRACE_COLORS[i], width=3),
                symbol="o",
                symbolSize=13,
                symbolPen=pg.mkPen(TRACE_COLORS[i], width=2),
                name=f"unit {i + 1}",
            )
            for i in range(3)
        ]
        self.codes_card = PlotCard(
            "Autoencoder: 3 numbers per colour",
            self.codes_plot,
            "Each colour is a mix of the same 3 units: the codes change smoothly along the spectrum.",
        )

        self.units_plot = plot_widget(bottom="colour (wavelength, nm)", left="unit that fires")
        self.units_scatter = pg.ScatterPlotItem(size=20, pen=pg.mkPen(fg, width=1))
        self.units_plot.addItem(self.units_scatter)
        self.units_card = PlotCard(
            "Sparse layer: which unit fires for each colour",
            self.units_plot,
            "Only one unit fires per colour, and every colour gets its own.",
        )

        self.error_plot = plot_widget(bottom="colour (wavelength, nm)", left="reconstruction error (%)")
        self.dense_bars = pg.BarGraphItem(x=[], height=[], width=8.0, pen=pg.mkPen(fg, width=1))
        self.sparse_bars = pg.BarGraphItem(x=[], height=[], width=8.0, brush=QColor(fg), pen=None)
        self.error_plot.addItem(self.dense_bars)
        self.error_plot.addItem(self.sparse_bars)
        self.error_card = PlotCard(
            "How well each colour comes back",
            self.error_plot,
            "Coloured bars: the 3-unit autoencoder. The sparse layer's bars (dark, right of "
            "each) are too small to see: it gives every colour back almost exactly.",
        )

        top = QHBoxLayout()
        top.addWidget(caption, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.progress)
        buttons.addWidget(self.status)
        box = QWidget()
        box.setLayout(buttons)
        box.setFixedWidth(300)
        top.addWidget(box)
        grid = QGridLayout()
        grid.addWidget(self.codes_card, 0, 0)
        grid.addWidget(self.units_card, 0, 1)
        grid.addWidget(self.error_card, 1, 0, 1, 2)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.summary)
        lay.addWidget(self.swatches)
        lay.addLayout(grid, 1)

    def make_job(self, colours: int = 16, seed: int = 0) -> JobFn[RainbowResult]:
        return rainbow_job(RainbowConfig(colours=colours, seed=seed))

    def on_started(self) -> None:
        self.summary.setText("Training the 3-unit autoencoder and the sparse layer on the spectrum…")

    def on_result(self, r: RainbowResult) -> None:
        self.result = r
        nm = r.centres
        colors = [QColor.fromRgbF(*map(float, c)) for c in r.display_rgb]
        self.swatches.set_colors(r.display_rgb, [f"{v:.0f}" for v in nm])
        for i, curve in enumerate(self.code_curves):
            curve.setData(nm, r.codes[:, i], symbolBrush=colors)
        lo, hi = float(r.codes.min()), float(r.codes.max())
        self.codes_plot.setYRange(lo, hi + 0.3 * (hi - lo), padding=0.05)  # room for the legend on top
        fired = r.sparse_unit >= 0
        self.units_scatter.setData(x=nm[fired], y=r.sparse_unit[fired], brush=[c for c, f in zip(colors, fired) if f])
        self.units_plot.setYRange(-1, r.config.units, padding=0.02)
        step = float(np.diff(nm).mean()) if len(nm) > 1 else 20.0
        w = 0.4 * step
        self.dense_bars.setOpts(x=nm - w / 2, height=100 * r.dense_error, width=w, brushes=colors)
        self.sparse_bars.setOpts(x=nm + w / 2, height=100 * r.sparse_error, width=w)
        self.summary.setText(
            f"3-unit autoencoder: mean error <b>{100 * r.dense_error.mean():.1f}%</b>. Sparse layer: "
            f"<b>{len(nm)} colours → {r.units_used} different units</b>, mean error "
            f"<b>{100 * r.sparse_error.mean():.3f}%</b>."
        )

    def on_stopped(self, outcome: str, message: str) -> None:
        self.summary.setText("Stopped." if outcome == "cancelled" else "The rainbow did not finish.")
