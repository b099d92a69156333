"""The steering panel: one row per steered feature (slider + exact value in × max activation, with the raw
coefficient and % of the hook's typical residual norm beside it, method, enable, remove), a global multiplier,
reset, and "re-run automatically" (debounced; the newest change wins). It mirrors the controller's steering."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

METHOD_NAMES = {"add": "add", "clamp": "clamp", "orth": "orthogonal"}
METHOD_TIPS = (
    "add: x + s·W_dec[f] (Neuronpedia's default)\n"
    "clamp: set the feature's activation to c, keeping the SAE error (Anthropic's Golden Gate method)\n"
    "orthogonal: scale the component of x along W_dec[f] by c (1 = unchanged, 0 = remove)"
)
SLIDER_STEPS = 200  # each side
DEBOUNCE_MS = 300


class SteeringRow(QFrame):
    edited = Signal()
    removed = Signal(object)
    sweepRequested = Signal(int)

    def __init__(self, feature: int, label: str, unit: str, raw_span: float, parent=None):
        super().__init__(parent)
        self.feature = feature
        self.label = label
        self.unit = unit  # 'max' when the SAE has statistics, else 'raw'
        self.span = 20.0 if unit == "max" else raw_span  # strength at the slider's end
        self.setFrameShape(QFrame.StyledPanel)
        self.enabled = QCheckBox()
        self.enabled.setChecked(True)
        self.enabled.setToolTip("Apply this feature's steering")
        self.name = QLabel(f"<b>#{feature}</b> {label}"[:80])
        self.name.setToolTip(f"Feature #{feature}: {label}")
        self.name.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # long labels never widen the dock
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(-SLIDER_STEPS, SLIDER_STEPS)
        self.slider.setToolTip(
            "Strength"
            + (
                " in multiples of the feature's max activation (±10× is the useful range)"
                if unit == "max"
                else " (raw coefficient)"
            )
        )
        self.value = QDoubleSpinBox()
        self.value.setDecimals(2)
        self.value.setRange(-1000.0, 1000.0) if unit == "max" else self.value.setRange(-1e5, 1e5)
        self.value.setSingleStep(0.5 if unit == "max" else max(1.0, round(self.span / 20)))
        self.value.setSuffix("×" if unit == "max" else "")
        self.value.setToolTip(self.slider.toolTip())
        self.method = QComboBox()
        for k, v in METHOD_NAMES.items():
            self.method.addItem(v, k)
        self.method.setToolTip(METHOD_TIPS)
        self.units = QLabel("")
        self.units.setToolTip(
            "Raw coefficient and its size as % of the hook's typical residual norm (after the global multiplier)"
        )
        rm = QToolButton(text="✕")
        rm.setToolTip("Stop steering with this feature")
        rm.clicked.connect(lambda: self.removed.emit(self))
        self.sweep_btn = QToolButton(text="Sweep…")
        self.sweep_btn.setToolTip("Sweep strength: plot concept, fluency and KL over a range of strengths")
        self.sweep_btn.clicked.connect(lambda: self.sweepRequested.emit(self.feature))
        g = QGridLayout(self)
        g.setContentsMargins(4, 2, 4, 2)
        g.addWidget(self.enabled, 0, 0)
        g.addWidget(self.name, 0, 1, 1, 2)
        g.addWidget(self.method, 0, 3)
        g.addWidget(rm, 0, 4)
        g.addWidget(self.sweep_btn, 0, 5)
        g.addWidget(self.slider, 1, 1)
        g.addWidget(self.value, 1, 2)
        g.addWidget(self.units, 1, 3, 1, 2)
        g.setColumnStretch(1, 1)
        self.slider.valueChanged.connect(self._from_slider)
        self.value.valueChanged.connect(self._from_value)
        self.method.currentIndexChanged.connect(self.edited)
        self.enabled.toggled.connect(self.edited)

    def _from_slider(self, v: int) -> None:
        self.value.blockSignals(True)
        self.value.setValue(v / SLIDER_STEPS * self.span)
        self.value.blockSignals(False)
        self.edited.emit()

    def _from_value(self, v: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(int(round(max(-1.0, min(1.0, v / self.span)) * SLIDER_STEPS)))
        self.slider.blockSignals(False)
        self.edited.emit()

    def set_spec(self, s) -> None:
        for w in (self.value, self.method, self.enabled):
            w.blockSignals(True)
        self.value.setValue(s.strength)
        self._from_value_silent(s.strength)
        self.method.setCurrentIndex(max(0, self.method.findData(s.method)))
        self.enabled.setChecked(s.enabled)
        for w in (self.value, self.method, self.enabled):
            w.blockSignals(False)

    def _from_value_silent(self, v: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(int(round(max(-1.0, min(1.0, v / self.span)) * SLIDER_STEPS)))
        self.slider.blockSignals(False)


class SteeringPanel(QWidget):
    """Shows the controller's steering set as rows; edits go to the controller at once. ``changed`` fires
    after a drag settles (debounced); with "re-run automatically" on, the controller then answers again."""

    changed = Signal()  # debounced: the steering the next generation will use changed
    sweepRequested = Signal(int)  # a row's "Sweep…" button: feature (or vector key)

    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.ctl = ctl = controller
        self.rows: list[SteeringRow] = []
        self.mult = QDoubleSpinBox()
        self.mult.setRange(-10, 10)
        self.mult.setSingleStep(0.1)
        self.mult.setValue(1.0)
        self.mult.setToolTip("Global strength multiplier applied to every row (0 = no steering)")
        self.mult.valueChanged.connect(lambda v: self._edit(ctl.set_multiplier, v))
        self.auto = QCheckBox("Re-run automatically")
        self.auto.setToolTip("Answer the last message again whenever steering changes (after you stop moving a slider)")
        self.auto.toggled.connect(ctl.set_auto_rerun)
        self.reset_btn = QPushButton("Reset")
        self.reset_btn.setToolTip("Set every strength to 0 and the multiplier to 1")
        self.reset_btn.clicked.connect(lambda: self._edit(ctl.reset_steering))
        self.clear_btn = QPushButton("Remove all")
        self.clear_btn.setToolTip("Stop steering with every feature")
        self.clear_btn.clicked.connect(lambda: self._edit(ctl.clear_steering))
        self.skip_special = QCheckBox("Leave special tokens unsteered")
        self.skip_special.setChecked(True)
        self.skip_special.setToolTip("Do not steer BOS and chat-template tokens (recommended)")
        self.skip_special.toggled.connect(lambda on: self._edit(ctl.set_skip_special, on))
        self.hint = QLabel("Add features with <b>Steer</b> in the feature panel.")
        self.hint.setWordWrap(True)
        self.box = QVBoxLayout()
        self.box.setContentsMargins(0, 0, 0, 0)
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(self.hint)
        v.addLayout(self.box)
        v.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        top = QHBoxLayout()
        top.addWidget(QLabel("Multiplier"))
        top.addWidget(self.mult)
        top.addWidget(self.auto)
        top.addStretch(1)
        top.addWidget(self.reset_btn)
        top.addWidget(self.clear_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.skip_special)
        lay.addWidget(scroll, 1)
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)
        self.debounce.timeout.connect(self._fire)
        ctl.steering_changed.connect(self.show_config)
        ctl.model_loaded.connect(lambda _info: self.show_config(ctl.state.steering))

    # --- input -> controller --------------------------------------------------------------------------------
    def _edit(self, action, *args) -> None:
        """A user edit: apply it now, re-run (if asked) once the user stops moving for DEBOUNCE_MS."""
        action(*args)
        self.debounce.start()

    def _row_edited(self, row: SteeringRow) -> None:
        f = row.feature
        self.ctl.set_strength(f, float(row.value.value()))
        self.ctl.set_method(f, row.method.currentData())
        self.ctl.set_enabled(f, row.enabled.isChecked())
        self.debounce.start()

    def _fire(self) -> None:
        self.changed.emit()
        if self.ctl.state.auto_rerun:
            self.ctl.rerun()

    def row(self, f: int) -> SteeringRow | None:
        return next((r for r in self.rows if r.feature == f), None)

    # --- controller -> rows --------------------------------------------------------------------------------
    def show_config(self, cfg) -> None:
        """Mirror ``cfg``: rows are rebuilt only when the set of features changes, so a drag keeps its slider."""
        if [r.feature for r in self.rows] != [s.feature for s in cfg.features] or any(
            r.unit != s.unit for r, s in zip(self.rows, cfg.features)
        ):
            for r in self.rows:
                r.setParent(None)
                r.deleteLater()
            self.rows = []
            span = 2.0 * (self.ctl.state.info.typical_norm or 100.0) if self.ctl.state.info else 200.0
            for s in cfg.features:
                row = SteeringRow(s.feature, s.label, s.unit, span)
                row.edited.connect(lambda r=row: self._row_edited(r))
                row.removed.connect(lambda r: self._edit(self.ctl.unsteer, r.feature))
                row.sweepRequested.connect(self.sweepRequested)
                self.rows.append(row)
                self.box.addWidget(row)
        for r, s in zip(self.rows, cfg.features):
            r.set_spec(s)
        for w, val in ((self.mult, cfg.multiplier), (self.skip_special, cfg.skip_special)):
            w.blockSignals(True)
            w.setValue(val) if w is self.mult else w.setChecked(val)
            w.blockSignals(False)
        self.hint.setVisible(not self.rows)
        self._update_units()

    def _update_units(self) -> None:
        for r, s in zip(self.rows, self.ctl.state.steering.features):
            u = self.ctl.strength_units(s)
            if s.method == "orth":
                r.units.setText(f"gain {u.coefficient:.2f}")
                continue
            parts = [f"raw {u.coefficient:.3g}"]
            if s.unit == "raw" and u.x_max is not None:
                parts.append(f"{u.x_max:.2g}× max")
            if u.pct_norm is not None:
                parts.append(f"{u.pct_norm:.3g}% norm")
            r.units.setText(" · ".join(parts))
