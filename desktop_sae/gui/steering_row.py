"""One row of the steering panel: enable, name (a feature, or a steering vector with a "vector" badge), method,
remove, the strength slider with its exact value and units, and "only when feature [g] > [t]" (conditional
steering). A vector row offers only the methods a bare direction supports and never reads feature statistics."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QToolButton,
)

from ..core.steering.specs import METHODS, VECTOR_METHODS
from .elided_label import ElidedLabel

METHOD_NAMES = {"add": "add", "clamp": "clamp", "orth": "orthogonal", "cap": "cap"}
METHOD_TIPS = (
    "add: x + s·v (Neuronpedia's default)\n"
    "clamp: set the feature's activation to c, keeping the SAE error (Anthropic's Golden Gate method)\n"
    "orthogonal: scale the component of x along v by c (1 = unchanged, 0 = remove)\n"
    "cap: the projection of x on the unit direction never exceeds c (Neuronpedia's projection cap)"
)
SLIDER_STEPS = 200  # each side
BADGE = "background:#6a4c93;color:white;border-radius:4px;padding:0 4px;font-size:10px"


class SteeringRow(QFrame):
    edited = Signal()
    removed = Signal(object)
    conditionEdited = Signal()
    clicked = Signal(object)
    sweepRequested = Signal(int)

    def __init__(self, feature: int, label: str, unit: str, raw_span: float, parent=None, *, is_vector=False,
                 dims: int = 0, d_sae: int = 0, threshold_unit: str = "raw", tag: str = ""):
        super().__init__(parent)
        self.feature = feature
        self.label = label
        self.unit = unit  # 'max' when the SAE has statistics, else 'raw' (always 'raw' for a vector)
        self.is_vector = is_vector
        self.raw_span = raw_span
        self.span = 20.0 if unit == "max" else raw_span  # strength at the slider's end (see _set_span)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.enabled = QCheckBox()
        self.enabled.setChecked(True)
        self.enabled.setToolTip("Apply this row's steering")
        name = label or f"vector {-feature}"
        self.name = ElidedLabel(name if is_vector else f"#{feature}  {label}",
                                f"Steering vector {name!r}: {dims} dimensions in the hook's residual basis"
                                if is_vector else f"Feature #{feature}: {label}" + (f"\n{tag}" if tag else ""))
        bold = self.name.font()
        bold.setBold(is_vector)
        self.name.setFont(bold)
        self.badge = QLabel("vector")
        self.badge.setStyleSheet(BADGE)
        self.badge.setToolTip("A steering vector, not an SAE feature: its strength is a raw coefficient on the "
                              "vector as stored")
        self.badge.setVisible(is_vector)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(-SLIDER_STEPS, SLIDER_STEPS)
        self.value = QDoubleSpinBox()
        self.value.setDecimals(2)
        self.value.setRange(-1000.0, 1000.0) if unit == "max" else self.value.setRange(-1e5, 1e5)
        self.value.setSingleStep(0.5 if unit == "max" else max(1.0, round(self.span / 20)))
        self.value.setSuffix("×" if unit == "max" else "")
        self.method = QComboBox()
        for k in VECTOR_METHODS if is_vector else METHODS:
            self.method.addItem(METHOD_NAMES[k], k)
        self.method.setToolTip(METHOD_TIPS)
        self.units = QLabel("")
        self.units.setToolTip(
            "Raw coefficient (or the cap on the projection) and its size as % of the hook's typical residual norm "
            "(after the global multiplier)"
        )
        rm = QToolButton()
        rm.setText("✕")
        rm.setToolTip("Stop steering with this row")
        rm.clicked.connect(lambda: self.removed.emit(self))
        self.sweep_btn = QToolButton()
        self.sweep_btn.setText("Sweep…")
        self.sweep_btn.setToolTip("Sweep strength: plot concept, fluency and KL over a range of strengths")
        self.sweep_btn.clicked.connect(lambda: self.sweepRequested.emit(self.feature))
        self._build_condition(d_sae, threshold_unit)
        g = QGridLayout(self)
        g.setContentsMargins(4, 2, 4, 2)
        g.addWidget(self.enabled, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.name, 1)
        head.addWidget(self.badge)
        g.addLayout(head, 0, 1, 1, 2)
        g.addWidget(self.method, 0, 3)
        g.addWidget(rm, 0, 4)
        g.addWidget(self.sweep_btn, 0, 5)
        g.addWidget(self.slider, 1, 1)
        g.addWidget(self.value, 1, 2)
        g.addWidget(self.units, 1, 3, 1, 2)
        g.addLayout(self.cond_box, 2, 1, 1, 4)
        g.setColumnStretch(1, 1)
        self.slider.valueChanged.connect(self._from_slider)
        self.value.valueChanged.connect(self._from_value)
        self.method.currentIndexChanged.connect(self._method_changed)
        self.enabled.toggled.connect(self.edited)
        self._method_changed()

    def _build_condition(self, d_sae: int, threshold_unit: str) -> None:
        self.threshold_unit = threshold_unit
        self.when_on = QCheckBox("only when feature")
        self.when_on.setToolTip("Conditional steering: steer only at tokens where this feature's activation (on the "
                                "unsteered residual) is above the threshold")
        self.when_feature = QSpinBox()
        self.when_feature.setRange(0, max(0, d_sae - 1))
        self.when_feature.setPrefix("#")
        self.when_above = QDoubleSpinBox()
        self.when_above.setDecimals(2)
        self.when_above.setRange(-1e4, 1e4)
        self.when_above.setSingleStep(0.1)
        self.when_above.setPrefix("> ")
        self.when_above.setSuffix("× max" if threshold_unit == "max" else "")
        self.when_above.setToolTip("Threshold" + (" in multiples of that feature's max activation"
                                                  if threshold_unit == "max" else " (raw activation)"))
        self.cond_box = QHBoxLayout()
        for w in (self.when_on, self.when_feature, self.when_above):
            self.cond_box.addWidget(w)
        self.cond_box.addStretch(1)
        self.when_on.toggled.connect(self._condition_changed)
        self.when_feature.valueChanged.connect(self._condition_changed)
        self.when_above.valueChanged.connect(self._condition_changed)
        self._show_condition_enabled()

    def _show_condition_enabled(self) -> None:
        for w in (self.when_feature, self.when_above):
            w.setEnabled(self.when_on.isChecked())

    def _condition_changed(self, *_) -> None:
        self._show_condition_enabled()
        self.conditionEdited.emit()

    def condition(self) -> tuple[int, float] | None:
        return (self.when_feature.value(), self.when_above.value()) if self.when_on.isChecked() else None

    def _method_changed(self, *_) -> None:
        self._set_span()
        self._update_tips()
        self.edited.emit()

    def _set_span(self) -> None:
        """A cap in × (max activation · |W_dec[f]|) is useful in about 0..2; other strengths in ±20× max."""
        cap = self.method.currentData() == "cap"
        self.span = (2.0 if cap else 20.0) if self.unit == "max" else self.raw_span
        self._from_value_silent(self.value.value())

    def _update_tips(self) -> None:
        cap = self.method.currentData() == "cap"
        what = ("Cap on the projection x·u" + (" in multiples of max activation × |W_dec[f]|" if self.unit == "max"
                                                else " (residual units)")) if cap else (
            "Strength" + (" in multiples of the feature's max activation (±10× is the useful range)"
                          if self.unit == "max" else " (raw coefficient)"))
        self.slider.setToolTip(what)
        self.value.setToolTip(what)

    def mousePressEvent(self, ev) -> None:  # noqa: N802
        self.clicked.emit(self)
        super().mousePressEvent(ev)

    def set_selected(self, on: bool) -> None:
        self.setFrameShape(QFrame.Shape.Box if on else QFrame.Shape.StyledPanel)
        self.setLineWidth(2 if on else 1)

    def _from_slider(self, v: int) -> None:
        self.value.blockSignals(True)
        self.value.setValue(v / SLIDER_STEPS * self.span)
        self.value.blockSignals(False)
        self.edited.emit()

    def _from_value(self, v: float) -> None:
        self._from_value_silent(v)
        self.edited.emit()

    def set_spec(self, s) -> None:
        ws = (self.value, self.method, self.enabled, self.when_on, self.when_feature, self.when_above)
        for w in ws:
            w.blockSignals(True)
        self.method.setCurrentIndex(max(0, self.method.findData(s.method)))
        self.value.setValue(s.strength)
        self._set_span()
        self.enabled.setChecked(s.enabled)
        self.when_on.setChecked(s.when is not None)
        if s.when is not None:
            self.when_feature.setValue(s.when[0])
            self.when_above.setValue(s.when[1])
        for w in ws:
            w.blockSignals(False)
        self._show_condition_enabled()
        self._update_tips()

    def _from_value_silent(self, v: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(int(round(max(-1.0, min(1.0, v / self.span)) * SLIDER_STEPS)))
        self.slider.blockSignals(False)
