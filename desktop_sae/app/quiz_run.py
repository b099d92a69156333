"""The mystery-feature quiz as the app plays it: each round steers the answer with a hidden feature and offers four
labels; a choice is scored, the hidden feature's dashboard opens, and the steering the user had comes back at the
end. The quiz panel renders this and forwards clicks; a lesson step starts it the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.steering.specs import SteeringConfig
from .events import Signal

if TYPE_CHECKING:  # loaded when a quiz starts, not with the window
    from ..core.classroom.quiz import Quiz, QuizRound
    from ..core.classroom.quiz_pool import QuizUnit
    from .controller import Controller

PROMPTS = (
    "Tell me about your day.",
    "What should I do this weekend?",
    "Give me some advice for the new year.",
    "Describe your favourite place.",
    "Write a short note to a friend.",
)
MYSTERY = "mystery feature"


class QuizRun:
    def __init__(self, ctl: Controller):
        self.ctl = ctl
        self.quiz: Quiz | None = None
        self.last_right: bool | None = None  # how the last answer went
        self._saved: SteeringConfig | None = None
        self._units: dict[int, QuizUnit] = {}  # hidden key -> its unit
        self.changed: Signal[[]] = Signal("quiz_changed")
        self.finished: Signal[[int, int]] = Signal("quiz_finished")  # score, rounds

    @property
    def round(self) -> QuizRound | None:
        return self.quiz.current if self.quiz is not None else None

    @property
    def playing(self) -> bool:
        return self._saved is not None

    def candidates(self) -> list[tuple[int, str]]:
        """(key, choice text) per unit of the SAE's measured quiz pool (``core.classroom.quiz_pool``): a set is
        offered as its concept, a single feature by its explanation. Raises ValueError when the SAE has none."""
        from ..core.classroom.quiz_pool import UnitKind, load_quiz_pool
        from ..core.features.user_labels import sae_folder

        model = self.ctl.model
        cat, info = model.catalog, model.info
        pool = load_quiz_pool(sae_folder(info.sae_path)) if info is not None and info.sae_path else None
        if not pool or cat is None:
            raise ValueError("the quiz only hides steering measured to be recognisable, and this SAE has no measured "
                             "quiz pool (docs/LESSONS.md, \"The quiz pool\")")
        self._units = {u.key: u for u in pool if max(u.features) < cat.d_sae}
        return [(k, (u.label if u.kind is UnitKind.SET else model.label(k)) or u.label) for k, u in self._units.items()]

    def start(self, rounds: int = 3, seed: int = 0) -> bool:
        from ..core.classroom.quiz import Quiz

        try:
            self.quiz = Quiz(self.candidates(), rounds, seed)
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
        conv = self.ctl.conversation
        self.ctl.steering.set_steering(SteeringConfig(self._units[r.hidden].rows(MYSTERY)))
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
