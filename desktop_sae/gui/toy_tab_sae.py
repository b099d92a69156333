"""The toy lab's "SAE recovers the features" tab: train the toy model on sparse data, then a small SAE that sees
only its 2-D hidden vectors; draw the true feature directions (solid, coloured) and the SAE's decoder directions
(dashed) and score how many true directions the SAE found."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFormLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from ..app.job_handles import Jobs
from ..app.jobs import JobFn
from ..app.messages import JobKind
from ..app.toy_jobs import ToySAEOutcome, toy_sae_job
from ..core.classroom.toy.superposition import ToyConfig, ToySnapshot
from ..core.classroom.toy.toy_sae import Recovery, ToySAEConfig, ToySAESnapshot
from .theme import plot_colors
from .ticker import Ticker
from .toy_plots import ArrowPlot, PlotCard, importance_colors
from .toy_tab_superposition import DRAW_MS, PACE_S, feature_labels
from .toy_widgets import JobTab, SliderSpin, big_label

SAE_PACE_S = PACE_S / 2  # two trainings in one job: keep slow motion about as long as one


class SAETab(JobTab):
    def __init__(self, jobs: Jobs, slow_motion: Callable[[], bool] = lambda: False, parent: QWidget | None = None):
        super().__init__(jobs, JobKind.TOY_SAE, "Train model + SAE", parent)
        self.slow_motion = slow_motion
        self.toy_config: ToyConfig | None = None
        self.outcome_data: ToySAEOutcome | None = None
        self.recovery: Recovery | None = None
        self.stage = ""  # "toy" | "sae" while training
        self.arrow_updates = 0
        self._pending = None
        self.ticker = Ticker(DRAW_MS, self._draw, self)
        _bg, fg = plot_colors()
        self.sae_color = QColor(fg)
        self.other_color = QColor(fg)
        self.other_color.setAlpha(90)

        self.n = SliderSpin(3, 20, 5)
        self.sparsity = SliderSpin(0.5, 0.99, 0.95, decimals=2)
        self.latents = QSpinBox()
        self.latents.setRange(2, 64)
        self.latents.setValue(10)
        self.latents.setToolTip("How many directions the SAE may learn (more than the 2 hidden dimensions)")
        self.n.valueChanged.connect(lambda v: self.latents.setValue(2 * int(v)))  # twice as many latents as features
        self.seed = QSpinBox()
        self.seed.setRange(0, 9999)
        form = QFormLayout()
        form.addRow("Features n", self.n)
        form.addRow("Sparsity S", self.sparsity)
        form.addRow("SAE latents", self.latents)
        form.addRow("Seed", self.seed)
        self.table = QLabel("")
        self.table.setWordWrap(True)
        self.table.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.run_button)
        left.addWidget(self.progress)
        left.addWidget(self.status)
        left.addWidget(self.table, 1)

        self.summary = big_label(1.5)
        self.summary.setText(
            "Train a toy model on sparse features, then an SAE that only sees its 2-D hidden "
            "vectors: does it find the features?"
        )
        self.arrows = ArrowPlot()
        self.true_layer = self.arrows.layer("true", width=7, head=26)
        self.sae_layer = self.arrows.layer("sae", width=2.5, dashed=True, head=16, font_pt=10, z=20)
        self.plot_card = PlotCard(
            "True feature directions and what the SAE learned",
            self.arrows,
            "Solid coloured arrows: the true features (columns of W). Dashed arrows: the SAE's decoder directions "
            "(dark: the best match of a feature, faint: the other latents). Dashed on solid: the SAE found it.",
        )
        self.lay_out(left, self.plot_card)

    def set_values(self, n=None, sparsity=None, latents=None, seed=None) -> None:
        for box, v in ((self.n, n), (self.sparsity, sparsity), (self.latents, latents), (self.seed, seed)):
            if v is not None:
                box.setValue(v)

    def make_job(self, decay: float = 0.9, l1: float = 1.0, steps: int | None = None) -> JobFn[ToySAEOutcome]:
        extra = {} if steps is None else {"steps": int(steps)}
        self.toy_config = ToyConfig(
            n=int(self.n.value()),
            m=2,
            sparsity=self.sparsity.value(),
            importance_decay=decay,
            seed=self.seed.value(),
            **extra,
        ).validate()
        sae = ToySAEConfig(latents=self.latents.value(), l1=l1, seed=self.seed.value(), **extra).validate()
        return toy_sae_job(self.toy_config, sae, pace_s=SAE_PACE_S if self.slow_motion() else 0.0)

    def on_started(self) -> None:
        self.ticker.timer.stop()
        self._pending, self.outcome_data, self.recovery, self.stage = None, None, None, "toy"
        self.sae_layer.set_arrows([], [])
        self.table.setText("")
        self.summary.setText("Step 1 of 2: training the toy model (the true features)…")

    def on_partial(self, snap) -> None:
        self._pending = snap
        self.ticker.poke()

    def _draw(self) -> None:
        snap, self._pending = self._pending, None
        if isinstance(snap, ToySnapshot):
            self._show_true(snap.W)
        elif isinstance(snap, ToySAESnapshot):
            if self.stage != "sae":
                self.stage = "sae"
                self.summary.setText("Step 2 of 2: training the SAE on the 2-D hidden vectors…")
            self.sae_layer.set_arrows(snap.W_dec, [self.sae_color] * len(snap.W_dec))
        else:
            return
        self.arrow_updates += 1

    def _show_true(self, W) -> None:
        self.arrows.fit(W.T)
        assert self.toy_config is not None  # make_job set it
        self.true_layer.set_arrows(W.T, importance_colors(self.toy_config.importance()), feature_labels(W.shape[1]))

    def on_result(self, out: ToySAEOutcome) -> None:
        self.ticker.timer.stop()
        self._pending = None
        self.outcome_data, self.recovery, self.stage = out, out.sae.recovery, ""
        self._show_true(out.toy.W)
        rec, n = out.sae.recovery, out.toy.config.n
        alive = list(out.sae.alive)
        best = {lat for lat, cos in zip(rec.best_latent, rec.best_cosine) if cos >= rec.threshold}
        self.sae_layer.set_arrows(
            out.sae.W_dec[alive],
            [self.sae_color if j in best else self.other_color for j in alive],
            [f"L{j}" if j in best else "" for j in alive],
        )
        self.arrow_updates += 1
        found = sum(c >= rec.threshold for c in rec.best_cosine)
        self.summary.setText(
            f"<b>The SAE recovered {found} of {n} feature directions ({100 * rec.fraction:.0f}%)</b> "
            f"from the 2-D hidden vectors alone (cosine ≥ {rec.threshold:g})."
        )
        rows = "".join(
            f"<tr><td>f{i + 1}</td><td>L{lat}</td><td align='right'>{cos:.3f}</td>"
            f"<td>{'✓' if cos >= rec.threshold else '✗'}</td></tr>"
            for i, (cos, lat) in enumerate(zip(rec.best_cosine, rec.best_latent))
        )
        self.table.setText(
            "<b>Best match for each true feature</b><table cellspacing=4><tr><th>feature</th><th>latent</th>"
            f"<th>cosine</th><th></th></tr>{rows}</table>{len(alive)} of {out.sae.config.latents} latents used; "
            f"unexplained variance {100 * out.sae.fvu:.1f}%."
        )

    def on_stopped(self, outcome: str, message: str) -> None:
        self.ticker.flush()
        self.stage = ""
        self.summary.setText("Stopped." if outcome == "cancelled" else "Training failed.")
