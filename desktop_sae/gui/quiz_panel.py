"""The mystery-feature quiz panel: renders the quiz the app plays (``app.quiz_run.QuizRun``: a hidden feature steers
the answer, the class picks one of four labels, the reveal opens the feature's dashboard and the score is kept) and
forwards the clicks."""

from __future__ import annotations

import html
import textwrap

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..app.quiz_run import QuizRun
from .lifetime import bind

CHOICE_LINE, CHOICE_LINES = 36, 3  # a choice (an explanation of up to ~20 words) wraps on its button, then ends in "…"


def choice_text(label: str) -> str:
    return "\n".join(textwrap.wrap(label, CHOICE_LINE, max_lines=CHOICE_LINES, placeholder=" …"))


class QuizPanel(QWidget):
    finished = Signal(int, int)  # score, rounds

    def __init__(self, run: QuizRun, parent: QWidget | None = None):
        super().__init__(parent)
        self.run = run
        self.question = QLabel(
            "<h3>Mystery feature</h3><p>Press <b>Start quiz</b>: the model answers while a hidden "
            "feature steers it. Which feature was it?</p>"
        )
        self.question.setWordWrap(True)
        self.choice_btns = [QPushButton("") for _ in range(4)]
        grid = QGridLayout()
        for i, b in enumerate(self.choice_btns):
            b.setMinimumHeight(48)
            b.setEnabled(False)
            b.clicked.connect(lambda _=False, k=i: self.choose(k))
            grid.addWidget(b, i // 2, i % 2)
        self.feedback = QLabel("")
        self.feedback.setWordWrap(True)
        self.score_lbl = QLabel("")
        self.start_btn = QPushButton("Start quiz")
        self.start_btn.clicked.connect(lambda: self.start())
        self.next_btn = QPushButton("Next round ▶")
        self.next_btn.setEnabled(False)
        self.next_btn.clicked.connect(self.next_round)
        for b in (self.start_btn, self.next_btn):
            b.setMinimumHeight(40)
        lay = QVBoxLayout(self)
        lay.addWidget(self.question)
        lay.addLayout(grid)
        lay.addWidget(self.feedback)
        lay.addWidget(self.score_lbl)
        lay.addWidget(self.next_btn)
        lay.addWidget(self.start_btn)
        lay.addStretch(1)
        bind(run.changed, self, self._show)
        bind(run.finished, self, self._over)

    def start(self, rounds: int = 3, seed: int = 0) -> bool:
        return self.run.start(rounds, seed)

    def next_round(self) -> None:
        self.run.next_round()

    def choose(self, k: int) -> bool:
        return self.run.choose(k)

    def end(self) -> None:
        self.run.end()

    # --- the run -> the panel ------------------------------------------------------------------------------
    def _show(self) -> None:
        q, r = self.run.quiz, self.run.round
        if q is None or r is None:
            return
        answered = q.answered
        if not answered:
            self.question.setText(f"<h3>Round {r.number} of {q.rounds}</h3><p>Read the model's answer. "
                                  "Which feature was steering it?</p>")
            for b, (_f, label) in zip(self.choice_btns, r.choices, strict=True):
                b.setText(choice_text(label))
                b.setToolTip(label)
                b.setEnabled(True)
            self.feedback.setText("")
            self.next_btn.setEnabled(False)
            self.start_btn.setEnabled(False)
            return
        hidden_label = r.choices[r.correct][1]
        self.feedback.setText(("<b>Right!</b> " if self.run.last_right else
                               f"<b>Not quite</b>: it was <b>{html.escape(hidden_label)}</b>. ")
                              + f"Feature #{r.hidden}'s dashboard is open.")
        for b in self.choice_btns:
            b.setEnabled(False)
        self.score_lbl.setText(f"Score: {q.score} of {len(q.history)}")
        self.next_btn.setEnabled(True)
        self.next_btn.setText("Finish ✓" if len(q.history) >= q.rounds else "Next round ▶")

    def _over(self, score: int, rounds: int) -> None:
        self.question.setText(f"<h3>Quiz over</h3><p>You scored <b>{score} of {rounds}</b>.</p>")
        self.finished.emit(score, rounds)
        self.next_btn.setEnabled(False)
        self.start_btn.setEnabled(True)
