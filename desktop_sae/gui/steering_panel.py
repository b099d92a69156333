"""The steering panel: one row per steered feature or steering vector (``steering_row.SteeringRow``: slider +
exact value, the raw coefficient and % of the hook's typical residual norm beside it, method, condition, enable,
remove), a global multiplier, reset, and "re-run automatically" (the steering model debounces it; the newest change
wins). It mirrors the steering model. Clicking a row selects it (File ▸ Save steering vector… saves the selected
vector)."""

from __future__ import annotations

from PySide6.QtCore import Signal
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

from ..app.notices import Notices
from ..app.steering_model import SteeringModel
from ..core.steering.specs import SteeringConfig
from ..core.support.errors import SteeringError
from .lifetime import bind
from .steering_row import SteeringRow


class SteeringPanel(QWidget):
    """Shows the steering set as rows; edits go to the steering model at once (with "re-run automatically" on, it
    answers again once the user stops moving)."""

    sweepRequested = Signal(int)  # a row's "Sweep…" button: feature (or vector key)

    def __init__(self, steering: SteeringModel, notices: Notices, parent: QWidget | None = None):
        super().__init__(parent)
        self.steering = st = steering
        self.notices = notices
        self.rows: list[SteeringRow] = []
        self.selected: int | None = None  # the clicked row's key
        self.mult = QDoubleSpinBox()
        self.mult.setRange(-10, 10)
        self.mult.setSingleStep(0.1)
        self.mult.setValue(1.0)
        self.mult.setToolTip("Global strength multiplier applied to every row (0 = no steering)")
        self.mult.valueChanged.connect(st.set_multiplier)
        self.auto = QCheckBox("Re-run automatically")
        self.auto.setToolTip("Answer the last message again whenever steering changes (after you stop moving a slider)")
        self.auto.setChecked(st.auto_rerun)
        self.auto.toggled.connect(st.set_auto_rerun)
        self.reset_btn = QPushButton("Reset")
        self.reset_btn.setToolTip("Set every strength to 0 and the multiplier to 1")
        self.reset_btn.clicked.connect(st.reset)
        self.clear_btn = QPushButton("Remove all")
        self.clear_btn.setToolTip("Stop steering with every feature")
        self.clear_btn.clicked.connect(st.clear)
        self.skip_special = QCheckBox("Leave special tokens unsteered")
        self.skip_special.setChecked(True)
        self.skip_special.setToolTip("Do not steer BOS and chat-template tokens (recommended)")
        self.skip_special.toggled.connect(st.set_skip_special)
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
        bind(st.changed, self, self.show_config)
        bind(st.auto_rerun_changed, self, self._show_auto)
        bind(st.model.loaded, self, lambda _info: self.show_config(st.config))

    # --- input -> steering model ----------------------------------------------------------------------------
    def _row_edited(self, row: SteeringRow) -> None:
        f = row.feature
        self.steering.set_strength(f, float(row.value.value()))
        self.steering.set_method(f, row.method.currentData())
        self.steering.set_enabled(f, row.enabled.isChecked())

    def _condition_edited(self, row: SteeringRow) -> None:
        try:
            self.steering.set_condition(row.feature, row.condition(), row.threshold_unit)
        except SteeringError as e:  # the spin box's range keeps this from happening; say so if it does
            self.notices.report_error("Could not set the condition", str(e))

    def _show_auto(self, on: bool) -> None:
        self.auto.blockSignals(True)
        self.auto.setChecked(on)
        self.auto.blockSignals(False)

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

    def row(self, f: int) -> SteeringRow | None:
        return next((r for r in self.rows if r.feature == f), None)

    # --- steering model -> rows ----------------------------------------------------------------------------
    def show_config(self, cfg: SteeringConfig) -> None:
        """Mirror ``cfg``: rows are rebuilt only when the set of features changes, so a drag keeps its slider."""
        info = self.steering.model.info
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
            cat = info.catalog if info is not None else None
            for s, t in zip(cfg.features, t_units):
                tag = cat.demo_tag(s.feature) if cat is not None and 0 <= s.feature < cat.d_sae else ""
                row = SteeringRow(s.feature, s.label, s.unit, span, is_vector=s.is_vector,
                                  dims=len(s.vector) if s.vector is not None else 0, d_sae=info.d_sae if info else 0,
                                  threshold_unit=t, tag=tag)
                row.edited.connect(lambda r=row: self._row_edited(r))
                row.conditionEdited.connect(lambda r=row: self._condition_edited(r))
                row.removed.connect(lambda r: self.steering.unsteer(r.feature))
                row.sweepRequested.connect(self.sweepRequested)
                row.clicked.connect(self.select)
                self.rows.append(row)
                self.box.addWidget(row)
            self.select(self.row(self.selected) if self.selected is not None else None)
        for r, s in zip(self.rows, cfg.features):
            r.set_spec(s)
        self.mult.blockSignals(True)
        self.mult.setValue(cfg.multiplier)
        self.mult.blockSignals(False)
        self.skip_special.blockSignals(True)
        self.skip_special.setChecked(cfg.skip_special)
        self.skip_special.blockSignals(False)
        self.hint.setVisible(not self.rows)
        self._update_units()

    def _update_units(self) -> None:
        for r, s in zip(self.rows, self.steering.config.features):
            u = self.steering.strength_units(s)
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
