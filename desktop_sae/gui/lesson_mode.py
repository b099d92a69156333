"""Lessons in the main window: start one (menu, welcome page, CLI), show the step's panels and outline, carry out
the actions that need the window's widgets, and give the user's layout back at the end."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from ..app.lesson_runner import LessonRunner
from .lesson_panel import PANEL_DOCKS, Highlighter, LessonPanel


class LessonMode:
    """Mixed into ``MainWindow`` (uses ``controller``, ``docks``, ``chat``, ``steering``, ``features`` …)."""

    lesson_runner: LessonRunner | None = None
    lesson_panel: LessonPanel | None = None
    _layout_before_lesson = None

    def lesson_infos(self):
        from ..core.classroom.lessons import list_lessons

        errors: list[str] = []
        infos = list_lessons(errors=errors)
        for e in errors:
            self.controller.set_status(f"A lesson file was skipped: {e}")
        return infos

    def start_lesson(self, lesson_id: str) -> bool:
        """Start a shipped lesson by id (or file name without .json), or a lesson file by its path."""
        from pathlib import Path

        from ..core.classroom.lessons import load_lesson
        from ..core.support.errors import DesktopSAEError
        from ..core.support.paths import default_sae_dir

        try:
            if str(lesson_id).endswith(".json") and Path(lesson_id).is_file():
                path = Path(lesson_id)
            else:
                info = next((i for i in self.lesson_infos() if lesson_id in (i.id, i.path.stem)), None)
                if info is None:
                    raise DesktopSAEError(f"no lesson named {lesson_id!r}")
                path = info.path
            lesson = load_lesson(path)
        except DesktopSAEError as e:
            self.controller.report_error("Could not start the lesson", str(e))
            return False
        if self.lesson_runner is not None:
            self.end_lesson()
        self._layout_before_lesson = self.saveState()
        self._lesson_ui()
        bundled = default_sae_dir()
        runner = LessonRunner(self.controller, lesson, bundled_sae=str(bundled) if bundled else None)
        runner.step_changed.connect(self._on_lesson_step)
        runner.action_requested.connect(self._on_lesson_action)
        runner.finished.connect(self._on_lesson_finished)
        self.lesson_runner = self.lesson_panel.runner = runner
        self.show_chat()
        runner.start()
        return True

    def end_lesson(self) -> None:
        if self.lesson_runner is not None:
            self.lesson_runner.stop()

    def _lesson_ui(self) -> None:
        if self.lesson_panel is None:
            self.lesson_panel = LessonPanel()
            self.lesson_panel.exitRequested.connect(self.end_lesson)
            self.lesson_panel.bind_keys(self)
            d = QDockWidget("Lesson", self)
            d.setObjectName("dock_lesson")
            d.setWidget(self.lesson_panel)
            self.addDockWidget(Qt.LeftDockWidgetArea, d)
            self.docks["lesson"] = d
            self.highlighter = Highlighter(self)
        self.docks["lesson"].show()
        self.docks["lesson"].raise_()

    def _on_lesson_step(self, index: int, step) -> None:
        self.lesson_panel.show_step(index, step)
        shown = {PANEL_DOCKS[p] for p in step.panels if p in PANEL_DOCKS} | {"lesson"}
        for key, dock in self.docks.items():
            dock.setVisible(key in shown)
        self.highlighter.point_at(self._highlight_target(step.highlight))

    def _highlight_target(self, name: str | None):
        if name is None:
            return None
        rows = self.steering.rows
        toy, neuron, quiz = (getattr(self, a, None) for a in ("toy_lab", "neuron_view", "quiz_panel"))
        targets = {
            "chat_input": self.chat.input,
            "send_button": self.chat.send_btn,
            "compare_button": self.chat.compare,
            "answer_view": self.chat.main_view,
            "steering_panel": self.steering,
            "strength_slider": rows[0].slider if rows else self.steering,
            "method_choice": rows[0].method if rows else self.steering,
            "feature_list": self.features.table,
            "feature_search": self.features.search,
            "feature_detail": self.detail,
            "token_view": self.token_view,
            "activation_plot": self.strip,
            "neuron_view": neuron,
            "quiz_panel": quiz,
            "toy_plot": toy,
            "toy_train_button": toy,
            "sparsity_slider": toy,
            "sae_plot": toy,
            "rainbow_plot": toy,
        }
        return targets.get(name)

    def _on_lesson_action(self, step) -> None:
        """Actions that live in the window's widgets (the runner itself asks chat questions)."""
        args = dict(step.action_args)
        toy, neuron, quiz = (getattr(self, a, None) for a in ("toy_lab", "neuron_view", "quiz_panel"))
        if step.action == "train_toy" and toy is not None:
            toy.show_tab("superposition")
            toy.train_superposition(
                **{k: v for k, v in args.items() if k in ("n", "sparsity", "seed")},
                **({"decay": args["importance_decay"]} if "importance_decay" in args else {}),
            )
        elif step.action == "toy_sae" and toy is not None:
            toy.show_tab("sae")
            toy.train_toy_sae()
        elif step.action == "rainbow" and toy is not None:
            toy.show_tab("rainbow")
            toy.run_rainbow()
        elif step.action == "neuron" and neuron is not None:
            self.show_panel("neuron")
            neuron.show_curated(0)
        elif step.action == "quiz" and quiz is not None:
            self.show_panel("quiz")
            quiz.start(rounds=args.get("rounds", 3), seed=args.get("seed", 0), source=args.get("source", "demo"))
        elif step.action == "sweep":
            self._lesson_sweep(step, args)
        elif step.action == "free_play":
            self.controller.set_status("Free play: try anything; press Next when you are ready")
        else:
            self.controller.set_status(f"This step's '{step.action}' panel is not available in this window")

    def _lesson_sweep(self, step, args) -> None:
        from ..core.classroom.lessons import SteerItem
        from ..core.support.errors import DesktopSAEError

        concept = args.get("concept") or (step.steer[0].concept if step.steer else None)
        try:
            specs = self.lesson_runner.specs_for(SteerItem(concept))
        except DesktopSAEError as e:
            self.controller.report_error("This step's sweep does not apply", str(e))
            return
        self.controller.sweep(step.prompt or "What should I do this weekend?", specs, args.get("strengths", ()))

    def _on_lesson_finished(self) -> None:
        self.highlighter.point_at(None)
        if self._layout_before_lesson is not None:
            self.restoreState(self._layout_before_lesson)
        self.docks["lesson"].hide()
        self.lesson_runner = None
        self.lesson_panel.runner = None
        self.controller.set_status("Lesson finished: your own layout and settings are back")
