"""The lesson panel: narration, the step's progress, big Back / Re-run / Next buttons (PageUp / F5 / PageDown, as
a presentation clicker sends), and Exit. It plays an ``app.LessonRunner`` on the window: shows the panels a step
names, outlines the widget it points at, and carries out the actions that live in the window (toy model, neuron
view, quiz); leaving restores the user's own layout."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QTextBrowser, QVBoxLayout, QWidget

PANEL_DOCKS = {
    "steering": "steering",
    "features": "features",
    "detail": "detail",
    "plot": "strip",
    "tokens": "token",
    "toy": "toy",
    "neuron": "neuron",
    "quiz": "quiz",
}


class Highlighter(QFrame):
    """An orange outline drawn over one widget of the window (mouse clicks pass through)."""

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet("QFrame { border: 4px solid #ff8c00; border-radius: 6px; background: transparent; }")
        self.target: QWidget | None = None
        self.hide()

    def point_at(self, target: QWidget | None) -> None:
        self.target = target
        self.refresh()

    def refresh(self) -> None:
        t, window = self.target, self.parentWidget()
        if t is None or window is None or not t.isVisible():
            self.hide()
            return
        top_left = t.mapTo(window, QPoint(0, 0))
        self.setGeometry(top_left.x() - 4, top_left.y() - 4, t.width() + 8, t.height() + 8)
        self.show()
        self.raise_()


class LessonPanel(QWidget):
    exitRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runner = None
        self.title = QLabel("")
        self.title.setWordWrap(True)
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.3)
        f.setBold(True)
        self.title.setFont(f)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.narration = QTextBrowser()
        self.narration.setOpenExternalLinks(False)
        self.back_btn = QPushButton("◀ Back")
        self.rerun_btn = QPushButton("↻ Re-run")
        self.next_btn = QPushButton("Next ▶")
        self.exit_btn = QPushButton("Exit lesson")
        for b, tip in (
            (self.back_btn, "Previous step (Page Up)"),
            (self.rerun_btn, "Do this step again (F5)"),
            (self.next_btn, "Next step (Page Down)"),
            (self.exit_btn, "Leave the lesson; your settings come back"),
        ):
            b.setMinimumHeight(44)
            b.setToolTip(tip)
        self.back_btn.clicked.connect(lambda: self.runner and self.runner.back())
        self.rerun_btn.clicked.connect(lambda: self.runner and self.runner.rerun())
        self.next_btn.clicked.connect(self._next)
        self.exit_btn.clicked.connect(self.exitRequested)
        buttons = QHBoxLayout()
        for b in (self.back_btn, self.rerun_btn, self.next_btn):
            buttons.addWidget(b, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.progress)
        lay.addWidget(self.narration, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.exit_btn)

    def bind_keys(self, window: QWidget) -> None:
        for key, fn in (
            ("PgDown", self._next),
            ("PgUp", lambda: self.runner and self.runner.back()),
            ("F5", lambda: self.runner and self.runner.rerun()),
        ):
            QShortcut(QKeySequence(key), window, lambda f=fn: self.runner and self.runner.active and f())

    def _next(self) -> None:
        if self.runner is not None and not self.runner.next():
            self.exitRequested.emit()  # Next on the last step ends the lesson

    def show_step(self, index: int, step) -> None:
        n = len(self.runner.lesson.steps)
        self.title.setText(f"{self.runner.lesson.title}<br><small>{index + 1}. {step.title}</small>")
        self.progress.setRange(0, n)
        self.progress.setValue(index + 1)
        self.progress.setFormat(f"step {index + 1} of {n}")
        self.narration.setHtml(step.narration)
        self.back_btn.setEnabled(index > 0)
        self.next_btn.setText("Finish ✓" if index + 1 == n else "Next ▶")
