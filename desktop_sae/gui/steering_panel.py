"""The steering panel: one row per steered feature or steering vector (``steering_row.SteeringRow``: slider +
exact value, the raw coefficient and % of the hook's typical residual norm beside it, method, condition, enable,
remove), a global multiplier, reset, and "re-run automatically" (debounced; the newest change wins). It mirrors
the controller's steering. Clicking a row selects it (File ▸ Save steering vector… saves the selected vector)."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ..core.support.errors import SteeringError
from .steering_row import SteeringRow

DEBOUNCE_MS = 300


class SteeringPanel(QWidget):
    """Shows the controller's steering set as rows; edits go to the controller at once. ``changed`` fires
    after a drag settles (debounced); with "re-run automatically" on, the controller then answers again."""

    changed = Signal()  # debounced: the steering the next generation will use changed
    sweepRequested = Signal(int)  # a row's "Sweep…" button: feature (or vector key)

    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.ctl = ctl = controller
        self.rows: list[SteeringRow] = []
        self.selected: int | None = None  # the clicked row's key
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
        self.hint = QLabel("Add features with <b>Steer</b> in the feature panel, or a steering vector with "
                           "<b>File ▸ Load steering vector…</b>")
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

    def _condition_edited(self, row: SteeringRow) -> None:
        try:
            self.ctl.set_condition(row.feature, row.condition(), row.threshold_unit)
        except SteeringError as e:  # the spin box's range keeps this from happening; say so if it does
            self.ctl.report_error("Could not set the condition", str(e))
            return
        self.debounce.start()

    def select(self, row: SteeringRow | None) -> None:
        self.selected = None if row is None else row.feature
        for r in self.rows:
            r.set_selected(r is row)

    def selected_vector(self) -> int | None:
        """The key of the vector row to save: the selected one, or the only one."""
        vecs = [r.feature for r in self.rows if r.is_vector]
        if self.selected in vecs:
            return self.selected
        return vecs[0] if len(vecs) == 1 else None

    def _fire(self) -> None:
        self.changed.emit()
        if self.ctl.state.auto_rerun:
            self.ctl.rerun()

    def row(self, f: int) -> SteeringRow | None:
        return next((r for r in self.rows if r.feature == f), None)

    # --- controller -> rows --------------------------------------------------------------------------------
    def show_config(self, cfg) -> None:
        """Mirror ``cfg``: rows are rebuilt only when the set of features changes, so a drag keeps its slider."""
        info = self.ctl.state.info
        default_unit = "max" if info is not None and info.max_activation is not None else "raw"
        t_units = [s.when_unit if s.when is not None else default_unit for s in cfg.features]
        if [(r.feature, r.unit, r.threshold_unit) for r in self.rows] != [
            (s.feature, s.unit, t) for s, t in zip(cfg.features, t_units)
        ]:
            for r in self.rows:
                r.setParent(None)
                r.deleteLater()
            self.rows = []
            span = 2.0 * (info.typical_norm or 100.0) if info else 200.0
            for s, t in zip(cfg.features, t_units):
                row = SteeringRow(s.feature, s.label, s.unit, span, is_vector=s.is_vector,
                                  dims=len(s.vector) if s.is_vector else 0, d_sae=info.d_sae if info else 0,
                                  threshold_unit=t)
                row.edited.connect(lambda r=row: self._row_edited(r))
                row.conditionEdited.connect(lambda r=row: self._condition_edited(r))
                row.removed.connect(lambda r: self._edit(self.ctl.unsteer, r.feature))
                row.sweepRequested.connect(self.sweepRequested)
                row.clicked.connect(self.select)
                self.rows.append(row)
                self.box.addWidget(row)
            self.select(self.row(self.selected) if self.selected is not None else None)
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
            if s.method == "cap":
                parts = [f"x·u ≤ {u.coefficient:.3g}"]
                if u.pct_norm is not None:
                    parts.append(f"{u.pct_norm:.3g}% norm")
                if u.weight != 1.0:
                    parts.append(f"{u.weight:.2g} of excess")
                r.units.setText(" · ".join(parts))
                continue
            parts = [f"raw {u.coefficient:.3g}"]
            if s.unit == "raw" and u.x_max is not None:
                parts.append(f"{u.x_max:.2g}× max")
            if u.pct_norm is not None:
                parts.append(f"{u.pct_norm:.3g}% norm")
            r.units.setText(" · ".join(parts))
