"""Lessons in the main window: start one (menu, welcome page, CLI), show the step's panels and outline, carry out
the actions that need the window's widgets (dispatched through a table by ``LessonAction``), and give the user's
layout back at the end. The lesson itself plays on the sub-models (``app.lesson_runner``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QDockWidget, QWidget

from ..core.support.errors import DesktopSAEError
from .lesson_panel import PANEL_DOCKS, Highlighter, LessonPanel

if TYPE_CHECKING:  # loaded when a lesson is listed or started, not with the window
    from ..app.lesson_runner import LessonRunner
    from ..core.classroom.lessons import LessonAction, LessonInfo, LessonStep
    from .lesson_trace import LessonTrace
    from .main_window import MainWindow


class LessonMode:
    def __init__(self, win: MainWindow):
        self.win = win
        self.runner: LessonRunner | None = None
        self.panel: LessonPanel | None = None
        self.highlighter: Highlighter | None = None
        self._layout_before: QByteArray | None = None
        self._actions: Mapping[LessonAction, Callable[[Mapping[str, Any]], None]] | None = None
        self.trace: LessonTrace | None = None  # the trace action's graph and ablation, built on first use

    def actions(self) -> Mapping[LessonAction, Callable[[Mapping[str, Any]], None]]:
        """The lesson actions that live in the window's widgets, by ``LessonAction``."""
        from ..core.classroom.lessons import LessonAction

        if self._actions is None:
            self._actions = {
                LessonAction.TRAIN_TOY: self._train_toy,
                LessonAction.TOY_SAE: self._toy_sae,
                LessonAction.RAINBOW: self._rainbow,
                LessonAction.NEURON: self._neuron,
                LessonAction.QUIZ: self._quiz,
                LessonAction.FREE_PLAY: self._free_play,
            }
        return self._actions

    def infos(self) -> list[LessonInfo]:
        from ..core.classroom.lessons import list_lessons

        errors: list[str] = []
        infos = list_lessons(errors=errors)
        for e in errors:
            self.win.controller.notices.set_status(f"A lesson file was skipped: {e}")
        return infos

    def start(self, lesson_id: str) -> bool:
        """Start a shipped lesson by id (or file name without .json), or a lesson file by its path."""
        from ..app.lesson_runner import LessonRunner
        from ..core.classroom.lessons import load_lesson
        from ..core.support.paths import default_sae_dir

        win = self.win
        try:
            if str(lesson_id).endswith(".json") and Path(lesson_id).is_file():
                path = Path(lesson_id)
            else:
                info = next((i for i in self.infos() if lesson_id in (i.id, i.path.stem)), None)
                if info is None:
                    raise DesktopSAEError(f"no lesson named {lesson_id!r}")
                path = info.path
            lesson = load_lesson(path)
        except DesktopSAEError as e:
            win.controller.notices.report_error("Could not start the lesson", str(e))
            return False
        if self.runner is not None:
            self.end()
        win.show_chat()  # leaves the welcome page: its panels come back before the lesson's layout is kept
        self._layout_before = win.saveState()
        panel = self._lesson_ui()
        bundled = default_sae_dir()
        runner = LessonRunner(win.controller, lesson, bundled_sae=str(bundled) if bundled else None)
        runner.step_changed.connect(self._on_step)
        runner.action_requested.connect(self._on_action)
        runner.finished.connect(self._on_finished)
        self.runner = panel.runner = runner
        runner.start()
        return True

    def end(self) -> None:
        if self.runner is not None:
            self.runner.stop()

    def _lesson_ui(self) -> LessonPanel:
        win = self.win
        if self.panel is None:
            self.panel = LessonPanel()
            self.panel.exitRequested.connect(self.end)
            self.panel.bind_keys(win)
            d = QDockWidget("Lesson", win)
            d.setObjectName("dock_lesson")
            d.setWidget(self.panel)
            win.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d)
            win.docks["lesson"] = d
            self.highlighter = Highlighter(win)
        win.show_panel("lesson")
        return self.panel

    def _on_step(self, index: int, step: LessonStep) -> None:
        assert self.panel is not None and self.highlighter is not None
        self.panel.show_step(index, step)
        shown = {PANEL_DOCKS[p] for p in step.panels if p in PANEL_DOCKS} | {"lesson"}
        for key, dock in self.win.docks.items():
            dock.setVisible(key in shown)
        self.highlighter.point_at(self._highlight_target(step.highlight))

    def _highlight_target(self, name: str | None) -> QWidget | None:
        if name is None:
            return None
        win = self.win
        rows = win.steering.rows
        toy = win.toy_lab
        targets: dict[str, QWidget | None] = {
            "chat_input": win.chat.input,
            "send_button": win.chat.send_btn,
            "compare_button": win.chat.compare,
            "answer_view": win.chat.main_view,
            "steering_panel": win.steering,
            "strength_slider": rows[0].slider if rows else win.steering,
            "method_choice": rows[0].method if rows else win.steering,
            "feature_list": win.features.table,
            "feature_search": win.features.search,
            "feature_detail": win.detail,
            "token_view": win.token_view,
            "activation_plot": win.strip,
            "neuron_view": win.neuron_view,
            "quiz_panel": win.quiz_panel,
            "toy_plot": toy,
            "toy_train_button": toy,
            "sparsity_slider": toy,
            "sae_plot": toy,
            "rainbow_plot": toy,
        }
        return targets.get(name)

    # --- actions the window carries out (the runner asks the chat questions itself) ------------------------------
    def _on_action(self, step: LessonStep) -> None:
        from ..core.classroom.lessons import LessonAction

        if step.action == LessonAction.TRACE:  # needs the step's prompt as well as its arguments
            self._trace(step)
            return
        act = self.actions().get(step.action)
        if act is None:
            self.win.controller.notices.set_status(f"This step's '{step.action}' panel is not available")
            return
        act(step.action_args)

    def _train_toy(self, args: Mapping[str, Any]) -> None:
        toy = self.win.toy_lab
        if toy is not None:
            toy.show_tab("superposition")
            toy.train_superposition(**{k: v for k, v in args.items() if k in ("n", "sparsity", "seed")},
                                    **({"decay": args["importance_decay"]} if "importance_decay" in args else {}))

    def _toy_sae(self, _args: Mapping[str, Any]) -> None:
        toy = self.win.toy_lab
        if toy is not None:
            toy.show_tab("sae")
            toy.train_toy_sae()

    def _rainbow(self, _args: Mapping[str, Any]) -> None:
        toy = self.win.toy_lab
        if toy is not None:
            toy.show_tab("rainbow")
            toy.run_rainbow()

    def _neuron(self, _args: Mapping[str, Any]) -> None:
        if self.win.neuron_view is not None:
            self.win.show_panel("neuron")
            self.win.neuron_view.show_curated(0)

    def _quiz(self, args: Mapping[str, Any]) -> None:
        self.win.show_panel("quiz")
        self.win.quiz.start(rounds=args.get("rounds", 3), seed=args.get("seed", 0))

    def _trace(self, step: LessonStep) -> None:
        from .lesson_trace import LessonTrace

        if self.trace is None:
            self.trace = LessonTrace(self.win)
        self.trace.start(step)

    def _free_play(self, _args: Mapping[str, Any]) -> None:
        self.win.controller.notices.set_status("Free play: try anything; press Next when you are ready")

    def _on_finished(self) -> None:
        win = self.win
        if self.highlighter is not None:
            self.highlighter.point_at(None)
        if self._layout_before is not None:
            win.restoreState(self._layout_before)
        win.docks["lesson"].hide()
        self.runner = None
        if self.panel is not None:
            self.panel.runner = None
        win.controller.notices.set_status("Lesson finished: your own layout and settings are back")
