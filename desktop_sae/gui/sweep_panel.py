"""The strength-sweep dialog: pick a steered feature (or the whole steering set, scaled), a prompt, a seed and a
log-spaced range; the sweep runs on the job runner and the plot fills in as each strength is measured. Hover a
point to read its answer; "Apply sweet spot" sets the steering row (or the multiplier) to the best strength."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..app.controller import Controller
from ..app.conversation import Role
from ..app.runs import RunChange, RunStatus
from ..app.sweep_run import SweepRequest, SweepRun
from ..core.features.naming import NARROW_CHARS, elide
from ..core.steering.specs import SteerSpec
from .lifetime import bind, own_run

if TYPE_CHECKING:
    from ..core.steer_eval.sweep import SweepPoint

SET = "set"  # combo data: the whole steering set, scaled by the multiplier
DEFAULT_PROMPT = "What should I do this weekend?"


def demo_keywords(feature: int) -> str:
    """The demo concept's keywords when ``feature`` leads a measured demo concept (else empty)."""
    from ..core.presets.demo_concepts import load_demo_concepts

    for c in (load_demo_concepts() or {}).values():
        if c.feature == feature:
            return ", ".join(c.keywords)
    return ""


class SweepPanel(QWidget):
    """Renders a ``SweepRun``: the dialog reads the steering, the chat's last question and its sampling from the
    controller, and applies the sweet spot to the steering."""

    def __init__(self, ctl: Controller, feature: int | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctl = ctl
        self.run = SweepRun(ctl.jobs)
        own_run(self, self.run)
        self.strengths: tuple[float, ...] = ()
        self.target = QComboBox()
        self.target.setToolTip("A feature at each strength, or the whole steering set with each strength as the "
                               "global multiplier")
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target.setMinimumContentsLength(40)  # a long explanation ends in "…" (the item's tooltip has it all)
        self._fill_targets(feature)
        self.prompt = QLineEdit(self._last_prompt())
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        sampling = ctl.conversation.sampling
        self.seed.setValue(sampling.seed if sampling.seed is not None else 42)
        self.tokens = QSpinBox()
        self.tokens.setRange(4, 256)
        self.tokens.setValue(min(48, sampling.max_new_tokens or 48))
        self.lo, self.hi = QDoubleSpinBox(), QDoubleSpinBox()
        for box, v in ((self.lo, 0.5), (self.hi, 64.0)):
            box.setRange(0.001, 1e5)
            box.setDecimals(3)
            box.setValue(v)
        self.n = QSpinBox()
        self.n.setRange(2, 25)
        self.n.setValue(9)
        self.keywords = QLineEdit()
        self.keywords.setPlaceholderText("words that show the concept, comma-separated")
        self.target.currentIndexChanged.connect(self._target_changed)
        self._target_changed()
        form = QFormLayout()
        form.addRow("Sweep", self.target)
        form.addRow("Prompt", self.prompt)
        rng = QHBoxLayout()
        for lab, w in (("from", self.lo), ("to", self.hi), ("points", self.n), ("seed", self.seed),
                       ("tokens", self.tokens)):
            rng.addWidget(QLabel(lab))
            rng.addWidget(w)
        form.addRow("Strengths", rng)
        form.addRow("Keywords", self.keywords)
        self.run_btn = QPushButton("Run sweep")
        self.run_btn.clicked.connect(self.start)
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.clicked.connect(self.run.cancel)
        self.apply_btn = QPushButton("Apply sweet spot")
        self.apply_btn.setToolTip("Set the steering row's strength (or the multiplier) to the best strength")
        self.apply_btn.clicked.connect(self.apply_sweet_spot)
        self.apply_btn.setEnabled(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        from .sweep_plot import SweepPlot  # pyqtgraph: imported when a sweep is first opened, not at start-up

        self.plot = SweepPlot()
        self.plot.hovered.connect(self.show_point)
        self.text = QTextBrowser()
        self.text.setMaximumHeight(110)
        self.text.setPlaceholderText("Hover the plot to read the answer at each strength")
        buttons = QHBoxLayout()
        for b in (self.run_btn, self.stop_btn, self.apply_btn):
            buttons.addWidget(b)
        buttons.addWidget(self.status, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.text)
        bind(self.run.changed, self, self._on_run)

    @property
    def points(self) -> dict[int, SweepPoint]:
        return self.run.points

    # --- setup ------------------------------------------------------------------------------------------------
    def _fill_targets(self, feature: int | None) -> None:
        steering, info = self.ctl.steering.config, self.ctl.model.info
        specs = list(steering.features)
        if feature is not None and all(s.feature != feature for s in specs) and info is not None:
            unit = "max" if info.has_stats(feature) else "raw"
            specs.insert(0, SteerSpec(feature, 0.0, unit, "add", True, self.ctl.model.label(feature)))
        for s in specs:
            unit = "× max" if s.unit == "max" else "raw"
            name = s.label if s.feature >= 0 else s.label or f"vector {-s.feature}"
            tail = f"({s.method}, {unit})" if s.feature >= 0 else f"({s.method})"
            head = f"#{s.feature} " if s.feature >= 0 else ""
            self.target.addItem(f"{head}{elide(name, NARROW_CHARS)} {tail}".replace("  ", " "), s)
            self.target.setItemData(self.target.count() - 1, f"{head}{name} {tail}", Qt.ItemDataRole.ToolTipRole)
        if len(steering.features) > 0:
            self.target.addItem("Whole steering set (× multiplier)", SET)
        if feature is not None:
            self.target.setCurrentIndex(max(0, next((i for i in range(self.target.count())
                                                     if getattr(self.target.itemData(i), "feature", None) == feature),
                                                    0)))

    def _last_prompt(self) -> str:
        users = [t.content for t in self.ctl.conversation.turns if t.role == Role.USER]
        return users[-1] if users else DEFAULT_PROMPT

    def _target_changed(self) -> None:
        spec = self.target.currentData()
        if spec is None:
            return
        if spec == SET:
            lo, hi = 0.125, 16.0
        elif spec.unit == "max" or spec.method == "orth":
            lo, hi = (0.25, 16.0) if spec.method == "orth" else (0.5, 64.0)
        else:
            info = self.ctl.model.info
            tn = (info.typical_norm if info else None) or 100.0
            lo, hi = round(tn / 64, 3), round(4 * tn, 1)
        self.lo.setValue(lo)
        self.hi.setValue(hi)
        if spec != SET and spec.feature >= 0 and not self.keywords.text():
            self.keywords.setText(demo_keywords(spec.feature))

    # --- running ----------------------------------------------------------------------------------------------
    def request(self) -> SweepRequest:
        from ..core.steer_eval.scoring import log_strengths

        conv, steering, spec = self.ctl.conversation, self.ctl.steering.config, self.target.currentData()
        self.strengths = tuple(log_strengths(self.lo.value(), self.hi.value(), self.n.value()))
        sampling = replace(conv.sampling, seed=self.seed.value(), max_new_tokens=self.tokens.value())
        kws = tuple(k.strip() for k in self.keywords.text().split(",") if k.strip())
        if spec == SET:
            feats = tuple(s.feature for s in steering.active if s.feature >= 0)
            return SweepRequest(self.prompt.text().strip() or DEFAULT_PROMPT, self.strengths, kws, sampling,
                                steering=steering, features=feats, system=conv.system.strip() or None,
                                skip_special=steering.skip_special)
        feats = (spec.feature,) if spec.feature >= 0 else ()
        return SweepRequest(self.prompt.text().strip() or DEFAULT_PROMPT, self.strengths, kws, sampling, spec=spec,
                            features=feats, system=conv.system.strip() or None, skip_special=steering.skip_special)

    def start(self) -> int | None:
        if not self.ctl.model.ready:
            self.status.setText("The model is not loaded yet.")
            return None
        if self.target.currentData() is None:
            self.status.setText("Steer a feature (or select one in the feature list) first.")
            return None
        try:
            req = self.request()
        except ValueError as e:
            self.status.setText(str(e))
            return None
        self.plot.clear()
        self.plot.set_range(req.strengths)
        self.apply_btn.setEnabled(False)
        self.run_btn.setEnabled(False)
        self.status.setText("Default answer…")
        return self.run.start(req)

    def _on_run(self, what: RunChange) -> None:
        if what == RunChange.PROGRESS:
            self.status.setText(self.run.message)
        elif what == RunChange.PARTIAL:
            self._redraw()
        elif not self.run.running:
            self.run_btn.setEnabled(True)
            if self.run.status == RunStatus.FAILED:
                self.status.setText(f"The sweep failed: {self.run.error}")

    def _redraw(self) -> None:
        pts = list(self.points.values())
        thr = self.run.threshold
        self.plot.set_points(pts, thr)
        best, bad = self.run.best(), self.run.degenerates_at()
        self.plot.mark(best.strength if best else None, bad.strength if bad else None)
        self.apply_btn.setEnabled(best is not None)
        parts = [f"{len(pts)} of {len(self.strengths)} strengths"]
        if best:
            parts.append(f"sweet spot {best.strength:g} (combined {best.combined:.2f})")
        if bad:
            parts.append(f"degenerates from {bad.strength:g}")
        self.status.setText(" · ".join(parts))

    # --- reading and applying -----------------------------------------------------------------------------------
    def point_at(self, i: int) -> SweepPoint | None:
        pts = self.run.sorted_points()
        return pts[i] if 0 <= i < len(pts) else None

    def show_point(self, i: int) -> None:
        p = self.point_at(i)
        if p is None:
            return
        m = p.measured
        kw = ", ".join(dict.fromkeys(m.keywords)) or "none"
        self.text.setPlainText(f"strength {p.strength:g} · concept {p.concept:.1f} (keywords: {kw}; re-read "
                               f"{m.reread:.2f}× max) · NLL {m.nll:.2f} · KL {p.kl:.2f} · combined {p.combined:.2f}"
                               f"{' · repetition loop' if m.degenerate else ''}\n\n{m.text}")

    def apply_sweet_spot(self) -> None:
        best, spec = self.run.best(), self.target.currentData()
        if best is None or spec is None:
            return
        steering = self.ctl.steering
        if spec == SET:
            steering.set_multiplier(best.strength)
        elif steering.spec(spec.feature) is not None:
            steering.set_strength(spec.feature, best.strength)
        else:
            steering.steer(spec.feature, best.strength, spec.method, spec.unit)
        self.status.setText(f"Applied strength {best.strength:g}")

    def stop(self) -> None:
        self.run.cancel()


class SweepDialog(QDialog):
    def __init__(self, controller: Controller, feature: int | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Sweep strength")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.panel = SweepPanel(controller, feature, self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.panel)
        self.resize(760, 640)

    def done(self, r: int) -> None:
        self.panel.stop()
        super().done(r)


def open_sweep_dialog(win, feature: int | None = None) -> SweepDialog:
    """Open the sweep dialog from the main window (a steering row, the feature dashboard or the menu)."""
    ctl = win.controller
    if feature is None and ctl.features.selected is not None and not ctl.steering.config.features:
        feature = ctl.features.selected
    dlg = SweepDialog(win.controller, feature, win)
    dlg.open()
    win._boxes = [b for b in win._boxes if b.isVisible()] + [dlg]
    return dlg
