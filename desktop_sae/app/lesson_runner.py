"""Plays a lesson on the sub-models, step by step, as a teacher clicking through it would.

Each step sets what it names — sampling overrides, the system prompt, a built-in preset, steering by demo concept
(never by raw feature id, so lessons survive a retrained SAE), side by side — and starts its action: ``run`` and
``compare`` ask the step's prompt and ``sweep`` asks it at several strengths; the other actions (toy model, neuron
view, quiz, attribution graph, free play) are for the window to carry out and are announced with
``action_requested``. Leaving the lesson restores the user's own steering, sampling, system prompt and side-by-side
setting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.classroom.lessons import Lesson, LessonAction, LessonStep, SteerItem
from ..core.engine.sampling import SamplingConfig
from ..core.presets.demo_concepts import DemoConcept, load_demo_concepts
from ..core.steering.specs import SteeringConfig, SteerSpec
from ..core.support.errors import DesktopSAEError
from .events import Signal

if TYPE_CHECKING:
    from .controller import Controller

CHAT_ACTIONS = (LessonAction.RUN, LessonAction.COMPARE)
SWEEP_PROMPT = "What should I do this weekend?"


@dataclass(frozen=True)
class _Saved:
    steering: SteeringConfig
    sampling: SamplingConfig
    system: str
    compare: bool


class LessonRunner:
    def __init__(self, ctl: Controller, lesson: Lesson, demo: dict[str, DemoConcept] | None = None,
                 bundled_sae: str | None = None):
        """``demo``: concept name -> ``DemoConcept`` (default: the shipped ones); ``bundled_sae``: the folder of the
        SAE those ids belong to (None: don't check)."""
        self.ctl, self.lesson = ctl, lesson
        self.demo = demo if demo is not None else (load_demo_concepts() or {})
        self.bundled_sae = bundled_sae
        self.index = -1
        self.active = False
        self._saved: _Saved | None = None
        self.step_changed: Signal[[int, LessonStep]] = Signal("step_changed")
        self.action_requested: Signal[[LessonStep]] = Signal("action_requested")  # for the window to carry out
        self.finished: Signal[[]] = Signal("finished")

    @property
    def step(self) -> LessonStep | None:
        return self.lesson.steps[self.index] if 0 <= self.index < len(self.lesson.steps) else None

    def start(self) -> None:
        conv = self.ctl.conversation
        self._saved = _Saved(self.ctl.steering.config, conv.sampling, conv.system, conv.compare)
        self.active = True
        self.go(0)

    def next(self) -> bool:
        if self.index + 1 >= len(self.lesson.steps):
            return False
        self.go(self.index + 1)
        return True

    def back(self) -> bool:
        if self.index <= 0:
            return False
        self.go(self.index - 1)
        return True

    def rerun(self) -> None:
        self.go(self.index)

    def stop(self) -> None:
        """Leave the lesson: the user's own settings come back."""
        if not self.active or self._saved is None:
            return
        self.active = False
        ctl, s = self.ctl, self._saved
        ctl.conversation.stop()
        d_sae = ctl.model.d_sae
        ctl.steering.set_steering(replace(s.steering, features=tuple(
            f for f in s.steering.features if f.is_vector or f.feature < d_sae)))
        ctl.conversation.set_sampling(s.sampling)
        ctl.conversation.set_system(s.system)
        ctl.conversation.set_compare(s.compare)
        self.finished.emit()

    # --- one step ------------------------------------------------------------------------------------------------
    def go(self, i: int) -> None:
        if not 0 <= i < len(self.lesson.steps):
            raise IndexError(f"step {i + 1} does not exist (the lesson has {len(self.lesson.steps)})")
        self.index = i
        step = self.lesson.steps[i]
        ctl, conv = self.ctl, self.ctl.conversation
        conv.stop()
        o = step.sampling
        over: dict[str, Any] = {k: v for k, v in (("temperature", o.temperature), ("seed", o.seed),
                                                  ("max_new_tokens", o.max_new_tokens)) if v is not None}
        if over:
            conv.set_sampling(replace(conv.sampling, **over))
        if step.system is not None:
            conv.set_system(step.system)
        if step.preset:
            ctl.presets.load(self._preset_path(step.preset))
        if step.steer is not None:
            try:
                ctl.steering.set_steering(SteeringConfig(tuple(r for item in step.steer for r in self.specs_for(item))))
            except DesktopSAEError as e:
                ctl.notices.report_error("This step's steering does not apply", str(e))
        conv.set_compare(step.action == LessonAction.COMPARE)
        self.step_changed.emit(i, step)
        if step.action in CHAT_ACTIONS:
            prompts = step.action_args.get("prompts") or ((step.prompt,) if step.prompt else ())
            if prompts:
                conv.clear()
                conv.send(prompts[0])
        elif step.action == LessonAction.SWEEP:
            self._sweep(step)
        elif step.action != LessonAction.NONE:
            self.action_requested.emit(step)

    def _sweep(self, step: LessonStep) -> None:
        args = step.action_args
        concept = args.get("concept") or (step.steer[0].concept if step.steer else None)
        try:
            if concept is None:
                raise DesktopSAEError("the step names no demo concept to sweep")
            rows = self.specs_for(SteerItem(concept))
        except DesktopSAEError as e:
            self.ctl.notices.report_error("This step's sweep does not apply", str(e))
            return
        self.ctl.conversation.sweep(step.prompt or SWEEP_PROMPT, rows, tuple(args.get("strengths", ())))

    def specs_for(self, item: SteerItem) -> tuple[SteerSpec, ...]:
        """The steering rows a lesson item (demo concept, optional strength and method) stands for: one, or one per
        feature of the concept's weighted set."""
        info = self.ctl.model.info
        if info is None:
            raise DesktopSAEError("no model is loaded yet")
        if self.bundled_sae and (
            not info.sae_path or Path(info.sae_path).resolve() != Path(self.bundled_sae).resolve()
        ):
            raise DesktopSAEError("lessons steer the bundled SAE's demo features; open the bundled SAE to follow them")
        c = self.demo.get(item.concept)
        if c is None:
            raise DesktopSAEError(f"the demo concept {item.concept!r} is not in this SAE's demo list")
        named = self.ctl.model.label  # each row goes by its feature's name; the concept is the features' demo-set tag
        return tuple(replace(s, label=named(s.feature) or s.label)
                     for s in c.rows(c.lead(item.strength, item.method, c.title)))

    @staticmethod
    def _preset_path(name: str) -> Path:
        from ..core.support import paths

        return paths.resources_dir() / "presets" / f"{name}.json"
