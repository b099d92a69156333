"""Building blocks of the toy lab's tabs: a slider paired with a spin box, and ``JobTab``, a tab that runs one
controller job at a time behind a big Train / Cancel button with a progress bar.

A job's callbacks arrive on the GUI thread (``Controller.poll``); messages of a job this tab no longer waits for
(replaced or cancelled) are ignored, and so is anything that arrives after the widget is gone.
"""

from __future__ import annotations

import shiboken6
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

PROGRESS_STEPS = 1000


class SliderSpin(QWidget):
    """A horizontal slider and a spin box showing the same number (``decimals`` = 0: an integer)."""

    valueChanged = Signal(float)

    def __init__(self, lo: float, hi: float, value: float, decimals: int = 0, parent: QWidget | None = None):
        super().__init__(parent)
        self.decimals, self.scale = decimals, 10**decimals
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(round(lo * self.scale), round(hi * self.scale))
        self.spin = QSpinBox() if decimals == 0 else QDoubleSpinBox()
        if decimals:
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

    def _from_spin(self, v) -> None:
        pos = round(v * self.scale)
        if self.slider.value() != pos:
            self.slider.blockSignals(True)
            self.slider.setValue(pos)
            self.slider.blockSignals(False)
        self.valueChanged.emit(float(v))

    def value(self):
        v = self.spin.value()
        return int(v) if self.decimals == 0 else round(float(v), self.decimals)

    def setValue(self, v) -> None:
        self.spin.setValue(int(round(v)) if self.decimals == 0 else float(v))


def big_button(text: str) -> QPushButton:
    b = QPushButton(text)
    f = QFont(b.font())
    f.setPointSizeF(f.pointSizeF() * 1.4)
    f.setBold(True)
    b.setFont(f)
    b.setMinimumHeight(46)
    b.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
    return b


def big_label(point_scale: float = 1.35) -> QLabel:
    lab = QLabel()
    lab.setWordWrap(True)
    f = QFont(lab.font())
    f.setPointSizeF(f.pointSizeF() * point_scale)
    lab.setFont(f)
    lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return lab


class JobTab(QWidget):
    """A tab that runs one job of ``kind`` at a time. Subclasses build the job in ``make_job`` and draw in
    ``on_partial`` / ``on_result``; ``finished`` says how each run ended: "done", "cancelled" or "failed"."""

    finished = Signal(str)

    def __init__(self, controller, kind: str, run_text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller, self.kind, self.run_text = controller, kind, run_text
        self.job_id: int | None = None
        self.outcome: str | None = None  # how the last run ended
        self.run_button = big_button(run_text)
        self.run_button.clicked.connect(self._clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        live = self._live = [None]  # the job to cancel if this widget goes away mid-run (no reference to self)
        self.destroyed.connect(lambda *_a, c=controller, live=live: live[0] is not None and c.cancel_job(live[0]))

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
    def make_job(self, **options):
        """The ``fn(session, state)`` to run, built from the tab's controls (and ``options`` of ``start``)."""
        raise NotImplementedError

    def on_started(self) -> None: ...

    def on_partial(self, payload) -> None: ...

    def on_result(self, result) -> None: ...

    def on_stopped(self, outcome: str, message: str) -> None: ...

    # --- running ------------------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.job_id is not None

    def start(self, **options) -> int:
        """Run the job now (replacing a run of this tab still going); returns its id."""
        fn = self.make_job(**options)
        self.outcome = None
        self.on_started()
        g = self._guard
        self.job_id = self._live[0] = self.controller.run_job(
            self.kind,
            fn,
            on_progress=g(self._progress),
            on_partial=g(lambda m: self.on_partial(m.payload)),
            on_done=g(self._done),
            on_failed=g(self._failed),
            on_cancelled=g(self._cancelled),
        )
        self.run_button.setText("Cancel")
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.status.setText("")
        return self.job_id

    def cancel(self) -> None:
        if self.job_id is not None:
            self.controller.cancel_job(self.job_id)

    def _clicked(self) -> None:
        self.cancel() if self.busy else self.start()

    def _guard(self, fn):
        def call(msg) -> None:
            if shiboken6.isValid(self) and msg.job_id == self.job_id:
                fn(msg)

        return call

    def _progress(self, msg) -> None:
        if msg.fraction is not None:
            self.progress.setValue(round(msg.fraction * PROGRESS_STEPS))
        self.progress.setFormat(msg.message or "%p%")

    def _end(self, outcome: str) -> None:
        self.job_id = self._live[0] = None
        self.outcome = outcome
        self.run_button.setText(self.run_text)

    def _done(self, msg) -> None:
        self._end("done")
        self.progress.setValue(PROGRESS_STEPS)
        self.progress.setFormat("done")
        self.on_result(msg.result)
        self.finished.emit("done")

    def _cancelled(self, msg) -> None:
        self._end("cancelled")
        self.progress.setFormat("stopped")
        self.status.setText("Stopped before the end: press the button to train again.")
        self.on_stopped("cancelled", "")
        self.finished.emit("cancelled")

    def _failed(self, msg) -> None:
        self._end("failed")
        self.progress.setFormat("failed")
        self.status.setText(f"Something went wrong: {msg.message}")
        self.on_stopped("failed", msg.message)
        self.finished.emit("failed")
