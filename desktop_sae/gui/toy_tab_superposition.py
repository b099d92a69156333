"""The toy lab's Superposition tab (Elhage et al. 2022): n features squeezed into a 2-D hidden space.

Training runs as the tab's run; each snapshot of W redraws one arrow per feature (a column of W) at most ~30
times a second; at the end a sentence says what shape the features took.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QCheckBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ..app.job_handles import Jobs
from ..app.jobs import JobFn
from ..app.messages import JobKind
from ..app.toy_jobs import SuperpositionOutcome, superposition_job
from ..core.classroom.toy.superposition import Geometry, ToyConfig, ToyResult, ToySnapshot
from .ticker import Ticker
from .toy_plots import ArrowPlot, LossPlot, PlotCard, importance_colors
from .toy_widgets import JobTab, SliderSpin, big_label

DRAW_MS = 33  # arrows redraw at most ~30 times a second, from the newest snapshot
PACE_S = 0.04  # slow motion: pause after each snapshot (60 snapshots: +2.4 s)
DENSE, SPARSE = 0.0, 0.95


def feature_labels(n: int) -> list[str]:
    return [f"f{i + 1}" for i in range(n)]


class SuperpositionTab(JobTab):
    def __init__(self, jobs: Jobs, slow_motion: Callable[[], bool] = lambda: False, parent: QWidget | None = None):
        super().__init__(jobs, JobKind.TOY_SUPERPOSITION, "Train", parent)
        self.slow_motion = slow_motion
        self.config: ToyConfig | None = None  # of the run drawn now
        self.toy_geometry: Geometry | None = None  # of the last finished run
        self.result: ToyResult | None = None
        self.summary_text = ""
        self.arrow_updates = 0  # arrow redraws, live ones and the final one
        self.live_updates = 0  # redraws while the job was still running
        self.last_step = 0
        self._pending: ToySnapshot | None = None
        self.ticker = Ticker(DRAW_MS, self._draw, self)

        self.n = SliderSpin(2, 20, 5)
        self.sparsity = SliderSpin(0.0, 0.99, SPARSE, decimals=2)
        self.decay = SliderSpin(0.5, 1.0, 0.9, decimals=2)
        self.seed = QSpinBox()
        self.seed.setRange(0, 9999)
        self.n.setToolTip("How many features the data has; the hidden space always has 2 dimensions.")
        self.sparsity.setToolTip(
            "Chance that a feature is zero in an example. High sparsity: features rarely\n"
            "appear together, so they can share dimensions with little interference."
        )
        self.decay.setToolTip("Feature i matters decay^i as much as feature 1 in the loss.")
        self.seed.setToolTip("Random start: the same seed gives the same training.")
        form = QFormLayout()
        form.addRow("Features n", self.n)
        form.addRow("Sparsity S", self.sparsity)
        form.addRow("Importance decay", self.decay)
        form.addRow("Seed", self.seed)
        self.dense_button = QPushButton("Dense (S = 0)")
        self.sparse_button = QPushButton("Sparse (S = 0.95)")
        for b, s in ((self.dense_button, DENSE), (self.sparse_button, SPARSE)):
            b.setToolTip(f"Set the sparsity to {s:g} and train")
            b.clicked.connect(lambda _c=False, s=s: self.preset(s))
        presets = QHBoxLayout()
        presets.addWidget(self.dense_button)
        presets.addWidget(self.sparse_button)
        self.loss_label = QLabel("loss —")
        self.loss_plot = LossPlot()
        self.loss_card = PlotCard("Loss while training", self.loss_plot)

        left = QVBoxLayout()
        left.addLayout(form)
        left.addLayout(presets)
        left.addWidget(self.run_button)
        left.addWidget(self.progress)
        left.addWidget(self.loss_label)
        left.addWidget(self.status)
        left.addWidget(self.loss_card, 1)

        self.summary = big_label(1.5)
        self.summary.setText("Press <b>Train</b> and watch the features find room in 2 dimensions.")
        self.arrows = ArrowPlot()
        self.features_layer = self.arrows.layer("features")
        self.plot_card = PlotCard(
            "Where each feature points in the 2-D hidden space (columns of W)",
            self.arrows,
            "One arrow per feature, numbered by importance; colour: red = most important … blue = least. "
            "A short arrow means the feature is not represented.",
        )
        self.lay_out(left, self.plot_card)

    # --- actions ------------------------------------------------------------------------------------------------
    def preset(self, sparsity: float) -> int:
        self.sparsity.setValue(sparsity)
        return self.start()

    def set_values(self, n=None, sparsity=None, decay=None, seed=None) -> None:
        for box, v in ((self.n, n), (self.sparsity, sparsity), (self.decay, decay), (self.seed, seed)):
            if v is not None:
                box.setValue(v)

    def current_config(self, steps: int | None = None) -> ToyConfig:
        extra = {} if steps is None else {"steps": int(steps)}
        return ToyConfig(
            n=int(self.n.value()),
            m=2,
            sparsity=self.sparsity.value(),
            importance_decay=self.decay.value(),
            seed=self.seed.value(),
            **extra,
        ).validate()

    def make_job(self, steps: int | None = None) -> JobFn[SuperpositionOutcome]:
        self.config = self.current_config(steps)
        return superposition_job(self.config, pace_s=PACE_S if self.slow_motion() else 0.0)

    # --- drawing ------------------------------------------------------------------------------------------------
    def on_started(self) -> None:
        self.ticker.timer.stop()
        self._pending = None
        self.toy_geometry = self.result = None
        self.last_step = 0
        self.loss_plot.reset()
        self.loss_label.setText("loss —")
        c = self.config
        assert c is not None  # make_job set it
        self.summary.setText(f"Training {c.n} features into 2 dimensions (sparsity {c.sparsity:g})…")

    def on_partial(self, snap: ToySnapshot) -> None:
        self._pending = snap
        self.loss_plot.add(snap.step, snap.loss)
        self.ticker.poke()

    def _draw(self) -> None:
        snap, self._pending = self._pending, None
        if snap is None or self.config is None:
            return
        self._show_weights(snap.W)
        self.last_step = snap.step
        self.loss_label.setText(f"loss {snap.loss:.4f} · step {snap.step} / {self.config.steps}")
        self.arrow_updates += 1
        if self.busy:
            self.live_updates += 1

    def _show_weights(self, W) -> None:
        cols = W.T  # one row per feature
        self.arrows.fit(cols)
        n = cols.shape[0]
        assert self.config is not None  # drawn only while a run's config is set
        self.features_layer.set_arrows(cols, importance_colors(self.config.importance()), feature_labels(n))

    def on_result(self, outcome) -> None:
        self.result, self.toy_geometry, self.summary_text = outcome.result, outcome.geometry, outcome.summary
        self.ticker.timer.stop()
        self._pending = ToySnapshot(
            outcome.result.config.steps, outcome.result.W, outcome.result.b, outcome.result.final_loss
        )
        self._draw()
        self.summary.setText(f"<b>{outcome.summary[:1].upper()}{outcome.summary[1:]}</b>")

    def on_stopped(self, outcome: str, message: str) -> None:
        self.ticker.flush()
        stopped = f"stopped at step {self.last_step}" if outcome == "cancelled" else "training failed"
        self.summary.setText(f"Training {stopped}: the arrows show where the features were then.")


class SlowMotionBox(QCheckBox):
    def __init__(self, parent: QWidget | None = None):
        super().__init__("Slow motion", parent)
        self.setToolTip("Pause briefly after each training snapshot so the class can watch the arrows move")
        self.setChecked(True)
