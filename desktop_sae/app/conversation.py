"""The conversation: its turns, the settings of the next answer (sampling, system prompt, side by side), and the
answer being generated. Sending submits a ``generate`` job (newest wins); each token arrives as a ``TokenEvent``
(``token``), the finished answer as a ``Turn`` (``answer_finished``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..core.engine.run_names import Run
from ..core.engine.sampling import SamplingConfig
from ..core.steering.specs import SteeringConfig, SteerSpec
from ..core.support.text_enum import TextEnum
from .chat_jobs import SweepAnswer, generate_job, sweep_job
from .events import Signal
from .feature_focus import FeatureFocus
from .job_handles import Jobs, JobSlot
from .messages import JobKind
from .model_slot import ModelSlot
from .notices import Notices
from .steering_model import SteeringModel

if TYPE_CHECKING:
    from ..core.engine.generation import GenerationResult, TokenEvent

EMPTY: Mapping[Run, tuple[TokenEvent, ...]] = MappingProxyType({})


class Role(TextEnum):
    USER = "user"
    ASSISTANT = "assistant"
    ERROR = "error"  # shown, never sent to the model


@dataclass(frozen=True)
class Turn:
    role: Role
    content: str
    default: str = ""  # side by side: the default (unsteered) answer from the same seed
    events: Mapping[Run, tuple[TokenEvent, ...]] = field(default_factory=lambda: EMPTY)  # assistant turns
    stop_reason: str = ""


class Conversation:
    def __init__(self, jobs: Jobs, model: ModelSlot, steering: SteeringModel, features: FeatureFocus,
                 notices: Notices):
        self.model, self.steering, self.features, self.notices = model, steering, features, notices
        self.turns: tuple[Turn, ...] = ()
        self.sampling = SamplingConfig()
        self.system = ""
        self.compare = False
        self.busy = False  # an answer is being generated
        self.events: dict[tuple[Run, int], TokenEvent] = {}  # (run, index) -> TokenEvent, for hover and click
        self.stream: dict[Run, list[TokenEvent]] = {}  # the answer being generated: run -> its events so far
        self._answer: JobSlot[Any, Any] = JobSlot(jobs, JobKind.GENERATE)  # an answer, or a sweep into the chat
        self._answer_steering: SteeringConfig | None = None  # what the last answer was asked with
        s = Signal
        self.reset: Signal[[]] = s("conversation_reset")
        self.turn_added: Signal[[Turn]] = s("turn_added")
        self.answer_started: Signal[[tuple[Run, ...], tuple[int, ...]]] = s("answer_started")  # runs, watched
        self.token: Signal[[TokenEvent]] = s("token")
        self.answer_finished: Signal[[Turn | None, GenerationResult | None]] = s("answer_finished")
        self.busy_changed: Signal[[bool]] = s("busy")
        self.sampling_changed: Signal[[SamplingConfig]] = s("sampling")
        self.system_changed: Signal[[str]] = s("system")
        self.compare_changed: Signal[[bool]] = s("compare")
        steering.rerun_requested.connect(self.rerun_if_steering_changed)

    # --- reading -------------------------------------------------------------------------------------------------
    def messages(self) -> list[dict[str, str]]:
        """The conversation as the model sees it (errors are shown, not sent)."""
        return [{"role": str(t.role), "content": t.content} for t in self.turns if t.role != Role.ERROR]

    def runs(self) -> tuple[Run, ...]:
        return (Run.STEERED, Run.DEFAULT) if self.compare else (Run.MAIN,)

    def last_answer(self, run: Run = Run.MAIN) -> str:
        for t in reversed(self.turns):
            if t.role == Role.ASSISTANT:
                return t.default if run == Run.DEFAULT else t.content
        return ""

    def watched(self) -> tuple[int, ...]:
        """Features whose activation every token reports: pinned, the colour feature and the steered ones."""
        return tuple(dict.fromkeys((*self.features.watched(), *self.steering.watched())))

    # --- actions -------------------------------------------------------------------------------------------------
    def send(self, text: str) -> bool:
        text = text.strip()
        if not text or not self.model.ready or self.busy:
            return False
        self._add_turn(Turn(Role.USER, text))
        self._start_answer()
        return True

    def regenerate(self) -> bool:
        if not self.model.ready or self.busy or not self._pop_last_answer():
            return False
        self._start_answer()
        return True

    def rerun(self) -> bool:
        """Answer the last message again now (after a steering change): the newest request wins, cancelling one in
        flight."""
        if not self.model.ready or not self._pop_last_answer():
            return False
        self._start_answer()
        return True

    def rerun_if_steering_changed(self) -> bool:
        """Automatic re-run: answer again only if the steering differs from the last answer's (a lesson that sets
        steering and then asks needs no second answer)."""
        if self.steering.config == self._answer_steering or not any(t.role == Role.USER for t in self.turns):
            return False
        return self.rerun()

    def stop(self) -> None:
        if self.busy:
            self._answer.cancel()
            self.notices.set_status("Stopping…")

    def clear(self) -> None:
        self.stop()
        self._answer.drop()
        self._set_busy(False)
        self.turns = ()
        self.events.clear()
        self.stream = {}
        self._answer_steering = None
        if self.model.catalog is not None:
            self.model.catalog.reset_conversation()
        self.reset.emit()

    def sweep(self, prompt: str, rows: tuple[SteerSpec, ...], strengths: tuple[float, ...]) -> bool:
        """Ask ``prompt`` once per strength of ``rows`` (one row, or a weighted set scaled together; same seed); each
        answer joins the conversation as it comes."""
        if not self.model.ready or self.busy or not rows:
            return False
        self.clear()
        self._set_busy(True)
        self.notices.set_status("Sweeping strengths…")
        lead = rows[0]
        name = lead.label or f"#{lead.feature}"

        def add(a: SweepAnswer) -> None:
            self._add_turn(Turn(Role.USER, f"{prompt}   [{name} at {a.strength:g}×]"))
            self._add_turn(Turn(Role.ASSISTANT, a.text))

        def done(_result: object = None) -> None:
            self._set_busy(False)
            self.notices.set_status(f"Sweep done: {len(strengths)} strengths")

        def failed(message: str) -> None:
            done()
            self.notices.report_error("The sweep failed", message)

        job = sweep_job(prompt, self.system.strip() or None, self.sampling, rows, tuple(strengths),
                        self.steering.config.skip_special)
        self._answer.start(job, on_partial=add, on_done=done, on_cancelled=done, on_failed=failed)
        return True

    # --- settings of the next answer -----------------------------------------------------------------------------
    def set_sampling(self, cfg: SamplingConfig) -> None:
        cfg = cfg.validate()
        if cfg != self.sampling:
            self.sampling = cfg
            self.sampling_changed.emit(cfg)

    def set_system(self, text: str) -> None:
        if text != self.system:
            self.system = text
            self.system_changed.emit(text)

    def set_compare(self, on: bool) -> None:
        if bool(on) != self.compare:
            self.compare = bool(on)
            self.compare_changed.emit(self.compare)

    # --- the answer ----------------------------------------------------------------------------------------------
    def _add_turn(self, turn: Turn) -> None:
        self.turns = (*self.turns, turn)
        self.turn_added.emit(turn)

    def _pop_last_answer(self) -> bool:
        """Drop the last answer (and any error after it); True when a user message is then last."""
        turns = list(self.turns)
        while turns and turns[-1].role != Role.USER:
            turns.pop()
        self.turns = tuple(turns)
        self.reset.emit()
        return bool(turns)

    def _start_answer(self) -> None:
        runs, watch = self.runs(), self.watched()
        self.stream = {r: [] for r in runs}
        self._answer_steering = self.steering.config
        self._set_busy(True)
        self.notices.set_status("Generating…")
        self.answer_started.emit(runs, watch)
        job = generate_job(tuple(self.messages()), self.system.strip() or None, self.sampling, self.steering.config,
                           watch, self.compare)
        self._answer.start(job, on_partial=self._on_token, on_done=self._on_answer, on_failed=self._on_failed,
                           on_cancelled=self._on_answer)

    def _set_busy(self, busy: bool) -> None:
        if self.busy != busy:
            self.busy = busy
            self.busy_changed.emit(busy)

    def _on_token(self, ev: TokenEvent) -> None:
        self.events[(ev.run, ev.index)] = ev
        if not ev.is_prompt:
            self.stream.setdefault(ev.run, []).append(ev)
            if self.model.catalog is not None:
                self.model.catalog.observe(ev)
        self.token.emit(ev)

    def _on_answer(self, results: dict[Run, GenerationResult] | None) -> None:
        results = results or {}
        main = results.get(Run.MAIN) or results.get(Run.STEERED)
        if main is None:  # stopped before the first token
            self._set_busy(False)
            self.notices.set_status("Stopped")
            self.answer_finished.emit(None, None)
            return
        default = results.get(Run.DEFAULT)
        turn = Turn(Role.ASSISTANT, main.text, default.text if default else "",
                    MappingProxyType({r: tuple(evs) for r, evs in self.stream.items()}), main.stop_reason)
        self.stream = {}
        self.turns = (*self.turns, turn)
        self._set_busy(False)
        extra = " · default answer alongside (same seed)" if default else ""
        self.notices.set_status(f"{len(main.answer_ids)} tokens in {main.seconds:.1f} s, stop: {main.stop_reason}"
                                f"{extra}")
        self.answer_finished.emit(turn, main)

    def _on_failed(self, message: str) -> None:
        self.stream = {}
        self.notices.last_error = message
        self._set_busy(False)
        self._add_turn(Turn(Role.ERROR, message))  # the user message stays, so Regenerate can retry
        self.notices.set_status(f"Error: {message}")
