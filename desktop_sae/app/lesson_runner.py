"""Plays a lesson on the controller, step by step, as a teacher clicking through it would.

Each step sets what it names — sampling overrides, the system prompt, a built-in preset, steering by demo concept
(never by raw feature id, so lessons survive a retrained SAE), side by side — and starts its action: ``run`` and
``compare`` ask the step's prompt; the other actions (toy model, neuron view, quiz, sweep, free play) are for the
window to carry out and are announced with ``action_requested``. Leaving the lesson restores the user's own
steering, sampling, system prompt and side-by-side setting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..core.steering.specs import SteeringConfig, SteerSpec
from ..core.support.errors import DesktopSAEError
from .events import Signal

CHAT_ACTIONS = ("run", "compare")


@dataclass(frozen=True)
class _Saved:
    steering: SteeringConfig
    sampling: object
    system: str
    compare: bool


class LessonRunner:
    def __init__(self, controller, lesson, demo: dict | None = None, bundled_sae: str | None = None):
        """``demo``: concept name -> ``DemoConcept`` (default: the shipped ones);
        ``bundled_sae``: the folder of the SAE those ids belong to (None: don't check)."""
        from ..core.presets.demo_concepts import load_demo_concepts

        self.ctl, self.lesson = controller, lesson
        self.demo = demo if demo is not None else (load_demo_concepts() or {})
        self.bundled_sae = bundled_sae
        self.index = -1
        self.active = False
        self._saved: _Saved | None = None
        self.step_changed = Signal("step_changed")  # (index, LessonStep)
        self.action_requested = Signal("action_requested")  # (LessonStep) for actions the window carries out
        self.finished = Signal("finished")

    @property
    def step(self):
        return self.lesson.steps[self.index] if 0 <= self.index < len(self.lesson.steps) else None

    def start(self) -> None:
        st = self.ctl.state
        self._saved = _Saved(st.steering, st.sampling, st.system, st.compare)
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
        if not self.active:
            return
        self.active = False
        self.ctl.stop()
        s = self._saved
        self.ctl.set_steering(
            replace(
                s.steering,
                features=tuple(
                    f for f in s.steering.features if self.ctl.state.info and f.feature < self.ctl.state.info.d_sae
                ),
            )
        )
        self.ctl.set_sampling(s.sampling)
        self.ctl.set_system(s.system)
        self.ctl.set_compare(s.compare)
        self.finished.emit()

    # --- one step ------------------------------------------------------------------------------------------------
    def go(self, i: int) -> None:
        if not 0 <= i < len(self.lesson.steps):
            raise IndexError(f"step {i + 1} does not exist (the lesson has {len(self.lesson.steps)})")
        self.index = i
        step = self.lesson.steps[i]
        ctl = self.ctl
        ctl.stop()
        over = {
            k: v
            for k, v in (
                ("temperature", step.sampling.temperature),
                ("seed", step.sampling.seed),
                ("max_new_tokens", step.sampling.max_new_tokens),
            )
            if v is not None
        }
        if over:
            ctl.set_sampling(replace(ctl.state.sampling, **over))
        if step.system is not None:
            ctl.set_system(step.system)
        if step.preset:
            ctl.load_preset(self._preset_path(step.preset))
        if step.steer is not None:
            try:
                ctl.set_steering(SteeringConfig(tuple(r for item in step.steer for r in self.specs_for(item))))
            except DesktopSAEError as e:
                ctl.report_error("This step's steering does not apply", str(e))
        ctl.set_compare(step.action == "compare")
        self.step_changed.emit(i, step)
        if step.action in CHAT_ACTIONS:
            prompts = step.action_args.get("prompts") or ((step.prompt,) if step.prompt else ())
            if prompts:
                ctl.clear()
                ctl.send(prompts[0])
        elif step.action != "none":
            self.action_requested.emit(step)

    def specs_for(self, item) -> tuple[SteerSpec, ...]:
        """The steering rows a lesson item (demo concept, optional strength and method) stands for: one, or one per
        feature of the concept's weighted set."""
        info = self.ctl.state.info
        if info is None:
            raise DesktopSAEError("no model is loaded yet")
        if self.bundled_sae and (
            not info.sae_path or Path(info.sae_path).resolve() != Path(self.bundled_sae).resolve()
        ):
            raise DesktopSAEError("lessons steer the bundled SAE's demo features; open the bundled SAE to follow them")
        c = self.demo.get(item.concept)
        if c is None:
            raise DesktopSAEError(f"the demo concept {item.concept!r} is not in this SAE's demo list")
        return c.rows(c.lead(item.strength, item.method, f"demo: {c.title}"))

    @staticmethod
    def _preset_path(name: str) -> Path:
        from ..core.support import paths

        return paths.resources_dir() / "presets" / f"{name}.json"
