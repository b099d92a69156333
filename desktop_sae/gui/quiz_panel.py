"""The mystery-feature quiz panel: the app steers with a hidden feature, the class reads the answer and picks one
of four labels; the reveal opens the feature's dashboard and the score is kept. Steering comes back afterwards."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..core.classroom.quiz import Quiz
from ..core.presets.demo_concepts import DemoConcept
from ..core.steering.specs import SteeringConfig

PROMPTS = (
    "Tell me about your day.",
    "What should I do this weekend?",
    "Give me some advice for the new year.",
    "Describe your favourite place.",
    "Write a short note to a friend.",
)
MYSTERY = "mystery feature"


class QuizPanel(QWidget):
    finished = Signal(int, int)  # score, rounds

    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.ctl = controller
        self.quiz: Quiz | None = None
        self._saved = None
        self._concepts: dict = {}  # hidden feature -> the DemoConcept it stands for (bundled SAE)
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

    def candidates(self, source: str = "demo", seed: int = 0) -> list[tuple[int, str]]:
        """(feature, label) pairs: the bundled SAE's measured demo features, else well-labelled features."""
        import numpy as np

        from ..core.presets.demo_concepts import load_demo_concepts, quiz_features

        info = self.ctl.state.info
        cat = self.ctl.state.catalog
        demo = [(f, c) for f, c in quiz_features(load_demo_concepts() or {}) if cat is not None and f < cat.d_sae]
        self._concepts = {}
        if source == "demo" and cat is not None and cat.curated_labels and len(demo) >= 4:  # the bundled SAE
            self._concepts = dict(demo)
            return [(f, c.label or cat.label(f)) for f, c in demo]
        labelled = [f for f in range(cat.d_sae) if cat.label(f) and info.has_stats(f)] if cat is not None else []
        picks = np.random.default_rng(seed).choice(labelled, size=min(8, len(labelled)), replace=False)
        return [(int(f), cat.label(int(f))) for f in picks]

    def start(self, rounds: int = 3, seed: int = 0, source: str = "demo") -> bool:
        try:
            self.quiz = Quiz(self.candidates(source, seed), rounds, seed)
        except ValueError as e:
            self.ctl.report_error("The quiz cannot start", str(e))
            return False
        self._saved = self.ctl.state.steering
        self.next_round()
        return True

    def next_round(self) -> None:
        r = self.quiz.next_round() if self.quiz else None
        if r is None:
            self.end()
            return
        concept = self._concepts.get(r.hidden)
        row = concept.lead(label=MYSTERY) if concept is not None else DemoConcept("", r.hidden).lead(label=MYSTERY)
        self.ctl.set_steering(SteeringConfig((replace(row, feature=r.hidden),)))
        self.ctl.set_compare(False)
        self.ctl.clear()
        self.ctl.send(PROMPTS[(r.number - 1) % len(PROMPTS)])
        self.question.setText(
            f"<h3>Round {r.number} of {self.quiz.rounds}</h3><p>Read the model's answer. "
            "Which feature was steering it?</p>"
        )
        for b, (_f, label) in zip(self.choice_btns, r.choices, strict=True):
            b.setText(label)
            b.setEnabled(True)
        self.feedback.setText("")
        self.next_btn.setEnabled(False)
        self.start_btn.setEnabled(False)

    def choose(self, k: int) -> bool:
        r = self.quiz.current
        right = self.quiz.answer(k)
        hidden_label = r.choices[r.correct][1]
        self.feedback.setText(
            ("<b>Right!</b> " if right else f"<b>Not quite</b>: it was <b>{hidden_label}</b>. ")
            + f"Feature #{r.hidden}'s dashboard is open."
        )
        for b in self.choice_btns:
            b.setEnabled(False)
        self.ctl.select(self.quiz.reveal())
        self.score_lbl.setText(f"Score: {self.quiz.score} of {len(self.quiz.history)}")
        self.next_btn.setEnabled(True)
        self.next_btn.setText("Finish ✓" if len(self.quiz.history) >= self.quiz.rounds else "Next round ▶")
        return right

    def end(self) -> None:
        if self._saved is not None:
            self.ctl.stop()
            self.ctl.set_steering(self._saved)
            self._saved = None
        q = self.quiz
        if q is not None:
            self.question.setText(f"<h3>Quiz over</h3><p>You scored <b>{q.score} of {len(q.history)}</b>.</p>")
            self.finished.emit(q.score, len(q.history))
        self.next_btn.setEnabled(False)
        self.start_btn.setEnabled(True)
