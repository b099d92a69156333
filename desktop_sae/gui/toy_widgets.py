"""Building blocks of the toy lab's tabs: a slider paired with a spin box, and ``JobTab``, a tab that renders one
``ToyRun`` (``app.toy_jobs``) behind a big Train / Cancel button with a progress bar.

The run's news arrives on the GUI thread; what a replaced or cancelled job still sends is dropped by the run, and
nothing reaches a tab that is gone (``lifetime.bind``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..app.job_handles import Jobs
from ..app.jobs import JobFn
from ..app.messages import JobKind
from ..app.runs import RunChange, RunStatus
from ..app.toy_jobs import ToyRun
from .lifetime import bind, own_run

PROGRESS_STEPS = 1000


class SliderSpin(QWidget):
    """A horizontal slider and a spin box showing the same number (``decimals`` = 0: an integer)."""

    valueChanged = Signal(float)

    def __init__(self, lo: float, hi: float, value: float, decimals: int = 0, parent: QWidget | None = None):
        super().__init__(parent)
        self.decimals, self.scale = decimals, 10**decimals
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(round(lo * self.scale), round(hi * self.scale))
        self.spin: QSpinBox | QDoubleSpinBox
        if decimals == 0:
            self.spin = QSpinBox()
            self.spin.setRange(int(lo), int(hi))
        else:
            self.spin = QDoubleSpinBox()
            self.spin.setDecimals(decimals)
            self.spin.setSingleStep(1 / self.scale)
            self.spin.setRange(lo, hi)
        self.spin.setMinimumWidth(64)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        self.slider.valueChanged.connect(lambda v: self.spin.setValue(v / self.scale if self.decimals else v))
        self.spin.valueChanged.connect(self._from_spin)
        self.setValue(value)

    def _from_spin(self, v: float) -> None:
        pos = round(v * self.scale)
        if self.slider.value() != pos:
            self.slider.blockSignals(True)
            self.slider.setValue(pos)
            self.slider.blockSignals(False)
        self.valueChanged.emit(float(v))

    def value(self) -> float:
        v = self.spin.value()
        return int(v) if self.decimals == 0 else round(float(v), self.decimals)

    def setValue(self, v: float) -> None:  # noqa: N802 - the Qt spin box's name
        if isinstance(self.spin, QSpinBox):
            self.spin.setValue(int(round(v)))
        else:
            self.spin.setValue(float(v))


def big_button(text: str) -> QPushButton:
    b = QPushButton(text)
    f = QFont(b.font())
    f.setPointSizeF(f.pointSizeF() * 1.4)
    f.setBold(True)
    b.setFont(f)
    b.setMinimumHeight(46)
    b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return b


def big_label(point_scale: float = 1.35) -> QLabel:
    lab = QLabel()
    lab.setWordWrap(True)
    f = QFont(lab.font())
    f.setPointSizeF(f.pointSizeF() * point_scale)
    lab.setFont(f)
    lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return lab


class JobTab(QWidget):
    """A tab that runs one job of ``kind`` at a time. Subclasses build the job in ``make_job`` and draw in
    ``on_partial`` / ``on_result``; ``finished`` says how each run ended: "done", "cancelled" or "failed"."""

    finished = Signal(str)
    summary: QLabel  # the tab's big sentence, made by each tab before ``lay_out``

    def __init__(self, jobs: Jobs, kind: JobKind, run_text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind, self.run_text = kind, run_text
        self.run = ToyRun(jobs, kind)
        own_run(self, self.run)
        self.outcome: str | None = None  # how the last run ended
        self.run_button = big_button(run_text)
        self.run_button.clicked.connect(self._clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        bind(self.run.changed, self, self._on_run)
        bind(self.run.partial, self, self.on_partial)

    def lay_out(self, controls: QLayout, card: QWidget) -> None:
        """The tab's layout: ``controls`` in a fixed-width column on the left, ``self.summary`` over ``card``."""
        side = QWidget()
        side.setLayout(controls)
        side.setFixedWidth(340)
        right = QVBoxLayout()
        right.addWidget(self.summary)
        right.addWidget(card, 1)
        lay = QHBoxLayout(self)
        lay.addWidget(side)
        lay.addLayout(right, 1)

    # --- overridden by the tabs --------------------------------------------------------------------------------
    def make_job(self, *args: Any, **options: Any) -> JobFn[Any]:
        """The ``fn(session, state)`` to run, built from the tab's controls (and ``options`` of ``start``); each tab
        takes its own keyword options."""
        raise NotImplementedError

    def on_started(self) -> None: ...

    def on_partial(self, payload: Any) -> None: ...

    def on_result(self, result: Any) -> None: ...

    def on_stopped(self, outcome: str, message: str) -> None: ...

    # --- running ------------------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.run.running

    @property
    def job_id(self) -> int | None:
        return self.run.job_id if self.busy else None

    def start(self, **options: Any) -> int:
        """Run the job now (replacing a run of this tab still going); returns its id."""
        fn = self.make_job(**options)
        self.outcome = None
        self.on_started()
        job = self.run.start(fn)
        self.run_button.setText("Cancel")
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.status.setText("")
        return job

    def cancel(self) -> None:
        self.run.cancel()

    def _clicked(self) -> None:
        self.cancel() if self.busy else self.start()

    def _on_run(self, what: RunChange) -> None:
        run = self.run
        if what == RunChange.PROGRESS:
            if run.fraction is not None:
                self.progress.setValue(round(run.fraction * PROGRESS_STEPS))
            self.progress.setFormat(run.message or "%p%")
        elif run.status == RunStatus.DONE:
            self._end("done")
            self.progress.setValue(PROGRESS_STEPS)
            self.progress.setFormat("done")
            self.on_result(run.result)
            self.finished.emit("done")
        elif run.status == RunStatus.CANCELLED:
            self._end("cancelled")
            self.progress.setFormat("stopped")
            self.status.setText("Stopped before the end: press the button to train again.")
            self.on_stopped("cancelled", "")
            self.finished.emit("cancelled")
        elif run.status == RunStatus.FAILED:
            self._end("failed")
            self.progress.setFormat("failed")
            self.status.setText(f"Something went wrong: {run.error}")
            self.on_stopped("failed", run.error or "")
            self.finished.emit("failed")

    def _end(self, outcome: str) -> None:
        self.outcome = outcome
        self.run_button.setText(self.run_text)
