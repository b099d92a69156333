"""The first view a new user sees instead of empty panels: start a lesson, try a demo preset, or just chat."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

INTRO = (
    "<h1>Look inside a language model</h1>"
    "<p>A small language model runs on this computer. A <b>sparse autoencoder</b> (SAE) splits what the model "
    "computes on every word into thousands of <b>features</b>, many of them readable: a bridge feature, a "
    "code-error feature, a secrets feature. Watch them light up while the model writes, and turn them up or "
    "down to steer what it says.</p>"
)


class WelcomePage(QWidget):
    lessonRequested = Signal(str)  # lesson id
    demoRequested = Signal(str)  # preset path
    chatRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        self.lessons = QListWidget()
        self.lessons.setToolTip("Guided lessons: the app shows and does each step; you press Next")
        self.lessons.itemActivated.connect(lambda it: self.lessonRequested.emit(it.data(Qt.ItemDataRole.UserRole)))
        self.demos = QListWidget()
        self.demos.setToolTip("Built-in presets: steering and sampling for a demo, ready to chat")
        self.demos.itemActivated.connect(lambda it: self.demoRequested.emit(it.data(Qt.ItemDataRole.UserRole)))
        self.lesson_btn = QPushButton("Start lesson")
        self.lesson_btn.clicked.connect(lambda: self._emit(self.lessons, self.lessonRequested))
        self.demo_btn = QPushButton("Try this demo")
        self.demo_btn.clicked.connect(lambda: self._emit(self.demos, self.demoRequested))
        self.chat_btn = QPushButton("Just chat")
        self.chat_btn.setToolTip("Go straight to the chat (the panels show features as the model answers)")
        self.chat_btn.clicked.connect(self.chatRequested)
        for lst in (self.lessons, self.demos):
            lst.setWordWrap(True)  # a long title wraps: it is never cut short
            lst.setSpacing(4)
            lst.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        top = Qt.AlignmentFlag.AlignTop
        grid = QGridLayout()
        self.headings: list[QLabel] = []
        for col, (title, btn) in enumerate(
            (("Learn", self.lesson_btn), ("Try a demo", self.demo_btn), ("Chat", self.chat_btn))
        ):
            head = QLabel(f"<h2>{title}</h2>")
            self.headings.append(head)
            grid.addWidget(head, 0, col, top)
            grid.addWidget(btn, 3, col)
        grid.addWidget(self.lessons, 1, 0)
        self.lesson_summary = QLabel()  # the chosen lesson's summary
        self.lesson_summary.setWordWrap(True)
        self.lessons.currentItemChanged.connect(
            lambda it, _old: self.lesson_summary.setText(it.toolTip() if it is not None else ""))
        grid.addWidget(self.lesson_summary, 2, 0, top)
        grid.setRowStretch(1, 1)
        grid.addWidget(self.demos, 1, 1)
        chat = QLabel("<p>Ask anything; click a word to see its features.</p>")
        chat.setWordWrap(True)
        grid.addWidget(chat, 1, 2, top)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 2)
        for b in (self.lesson_btn, self.demo_btn, self.chat_btn):
            b.setMinimumHeight(44)
        box = QFrame()
        lay = QVBoxLayout(box)
        lay.addWidget(intro)
        lay.addLayout(grid, 1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 24, 40, 24)
        outer.addWidget(box)

    def _emit(self, lst: QListWidget, sig) -> None:
        it = lst.currentItem() or (lst.item(0) if lst.count() else None)
        if it is not None:
            sig.emit(it.data(Qt.ItemDataRole.UserRole))

    def set_lessons(self, lessons) -> None:
        """``lessons``: (id, title, summary) triples."""
        self.lessons.clear()
        for lid, title, summary in lessons:
            it = QListWidgetItem(title)
            it.setData(Qt.ItemDataRole.UserRole, lid)
            it.setToolTip(summary)
            self.lessons.addItem(it)
        self.lessons.setCurrentRow(0)
        self.lesson_btn.setEnabled(self.lessons.count() > 0)

    def set_demos(self, entries) -> None:
        """``entries``: core PresetEntry objects (built-ins first)."""
        self.demos.clear()
        for e in entries:
            it = QListWidgetItem(e.name)
            it.setData(Qt.ItemDataRole.UserRole, str(e.path))
            self.demos.addItem(it)
        self.demo_btn.setEnabled(self.demos.count() > 0)
