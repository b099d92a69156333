"""The mystery-feature quiz as the app plays it: each round steers the answer with a hidden feature and offers four
labels; a choice is scored, the hidden feature's dashboard opens, and the steering the user had comes back at the
end. The quiz panel renders this and forwards clicks; a lesson step starts it the same way."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..core.steering.specs import SteeringConfig
from ..core.support.text_enum import TextEnum
from .events import Signal

if TYPE_CHECKING:  # loaded when a quiz starts, not with the window
    from ..core.classroom.quiz import Quiz, QuizRound
    from ..core.presets.demo_concepts import DemoConcept
    from .controller import Controller

PROMPTS = (
    "Tell me about your day.",
    "What should I do this weekend?",
    "Give me some advice for the new year.",
    "Describe your favourite place.",
    "Write a short note to a friend.",
)
MYSTERY = "mystery feature"


class QuizSource(TextEnum):
    DEMO = "demo"  # the bundled SAE's measured demo concepts
    LABELLED = "labelled"  # any features with labels and statistics (any SAE)


class QuizRun:
    def __init__(self, ctl: Controller):
        self.ctl = ctl
        self.quiz: Quiz | None = None
        self.last_right: bool | None = None  # how the last answer went
        self._saved: SteeringConfig | None = None
        self._concepts: dict[int, DemoConcept] = {}  # hidden feature -> its concept (the bundled SAE)
        self.changed: Signal[[]] = Signal("quiz_changed")
        self.finished: Signal[[int, int]] = Signal("quiz_finished")  # score, rounds

    @property
    def round(self) -> QuizRound | None:
        return self.quiz.current if self.quiz is not None else None

    @property
    def playing(self) -> bool:
        return self._saved is not None

    def candidates(self, source: QuizSource = QuizSource.DEMO, seed: int = 0) -> list[tuple[int, str]]:
        """(feature, choice) pairs: the bundled SAE's measured demo features, else well-labelled features; a choice is
        the feature's explanation where it has one."""
        import numpy as np

        from ..core.presets.demo_concepts import load_demo_concepts, quiz_features

        model = self.ctl.model
        cat, info = model.catalog, model.info
        demo = [(f, c) for f, c in quiz_features(load_demo_concepts() or {}) if cat is not None and f < cat.d_sae]
        self._concepts = {}
        if source == QuizSource.DEMO and cat is not None and cat.demo_sets and len(demo) >= 4:  # bundled SAE
            self._concepts = dict(demo)
            return [(f, cat.explanation_text(f) or c.label or cat.label(f)) for f, c in demo]
        if cat is None or info is None:
            return []
        labelled = [f for f in range(cat.d_sae) if cat.label(f) and info.has_stats(f)]
        picks = np.random.default_rng(seed).choice(labelled, size=min(8, len(labelled)), replace=False)
        return [(int(f), cat.label(int(f))) for f in picks]

    def start(self, rounds: int = 3, seed: int = 0, source: QuizSource | str = QuizSource.DEMO) -> bool:
        from ..core.classroom.quiz import Quiz

        try:
            self.quiz = Quiz(self.candidates(QuizSource(source), seed), rounds, seed)
        except ValueError as e:
            self.ctl.notices.report_error("The quiz cannot start", str(e))
            return False
        if self._saved is None:
            self._saved = self.ctl.steering.config
        self.next_round()
        return True

    def next_round(self) -> None:
        r = self.quiz.next_round() if self.quiz is not None else None
        if r is None:
            self.end()
            return
        from ..core.presets.demo_concepts import DemoConcept

        concept = self._concepts.get(r.hidden) or DemoConcept("", r.hidden)
        conv = self.ctl.conversation
        self.ctl.steering.set_steering(SteeringConfig((replace(concept.lead(label=MYSTERY), feature=r.hidden),)))
        conv.set_compare(False)
        conv.clear()
        conv.send(PROMPTS[(r.number - 1) % len(PROMPTS)])
        self.last_right = None
        self.changed.emit()

    def choose(self, k: int) -> bool:
        """Answer the current round with choice ``k``; opens the hidden feature's dashboard."""
        if self.quiz is None:
            raise RuntimeError("no quiz is running")
        right = self.quiz.answer(k)
        self.last_right = right
        self.ctl.features.select(self.quiz.reveal())
        self.changed.emit()
        return right

    def end(self) -> None:
        """Stop the quiz: the user's own steering comes back."""
        if self._saved is not None:
            self.ctl.conversation.stop()
            self.ctl.steering.set_steering(self._saved)
            self._saved = None
        self.changed.emit()
        if self.quiz is not None:
            self.finished.emit(self.quiz.score, len(self.quiz.history))
