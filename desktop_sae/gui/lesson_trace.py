"""A lesson's ``trace`` step in the window: the step's prompt and the start of the answer are tokenised on the
worker, the graph view builds the graph of the model's greedy next token (against ``alt`` when the step names one)
with its progress and Stop, and with ``ablate: top`` the graph's strongest positive feature node is selected and
ablated: the panel shows the predicted and actual change and the model's new top answer token."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from ..app.attribution_run import GraphRequest
from ..app.lesson_trace import AblationRun, TraceContextRun, ablation_text, strongest_positive
from ..app.runs import RunChange, RunStatus
from .graph_view import GraphView, open_graph_view
from .lifetime import bind

if TYPE_CHECKING:
    from ..core.classroom.lessons import LessonStep
    from .main_window import MainWindow


class LessonTrace:
    def __init__(self, win: MainWindow):
        self.win = win
        self.context = TraceContextRun(win.controller.jobs)
        bind(self.context.changed, win, self._on_context)
        self.step: LessonStep | None = None
        self.view: GraphView | None = None
        self.ablation: AblationRun | None = None
        self.graph_job: int | None = None  # the graph this step asked for (the view may show another later)
        self.ablated = ""  # the last ablation's text, as the panel shows it

    def start(self, step: LessonStep) -> None:
        self.step, self.graph_job, self.ablated = step, None, ""
        view = self._view()
        view.status.setText("Reading the lesson's prompt…")
        self.context.start(step)

    def _view(self) -> GraphView:
        view = open_graph_view(self.win)
        if view is not self.view:  # the window builds one view and keeps it; bind to it once
            self.view = view
            self.ablation = AblationRun(self.win.controller.jobs, view.run.cache)
            bind(view.run.changed, view, self._on_graph)  # after the view's own handler: it shows the graph first
            bind(self.ablation.changed, view, self._on_ablation)
        return view

    def _on_context(self, _what: RunChange) -> None:
        run = self.context
        if run.status == RunStatus.DONE and run.result is not None:
            self.graph_job = self._view().explain(GraphRequest(run.result.ids, None, run.result.alt_id))
        elif run.status == RunStatus.FAILED:
            self.win.controller.notices.report_error("This step's graph does not apply", run.error or "")
            if self.view is not None:
                self.view.status.setText(f"Could not build the lesson's graph: {run.error}")

    def _on_graph(self, what: RunChange) -> None:
        from ..core.classroom.lessons import TraceAblate

        view, step = self.view, self.step
        if view is None or step is None or what != RunChange.STATUS or view.run.status != RunStatus.DONE:
            return
        shown = view.run.shown
        if shown is None or shown.graph_id != self.graph_job:
            return
        self.graph_job = None  # once: choosing an alternative in the view afterwards is the learner's own graph
        if step.action_args.get("ablate", TraceAblate.NONE) != TraceAblate.TOP or self.ablation is None:
            return
        node = strongest_positive(shown.graph)
        if node is None:
            view.panel.show_effect("No feature node of this graph pushes the answer up, so there is nothing to "
                                   "ablate.")
            return
        index = shown.graph.nodes.index(node)
        view.scene.select(index)
        view.panel.show_node(node)
        view.canvas.centerOn(view.scene.items_by_index[index])  # it may sit left of the target, out of sight
        view.panel.show_effect("Ablating the strongest feature that pushes the answer up…")
        self.ablation.start(shown.graph_id, node)

    def _on_ablation(self, _what: RunChange) -> None:
        view, run = self.view, self.ablation
        if view is None or run is None:
            return
        shown = view.run.shown
        if run.status == RunStatus.DONE and run.result is not None and shown is not None:
            self.ablated = ablation_text(run.result, shown.graph.target_prob, shown.graph.tokens)
            view.panel.show_effect(f"<b>The lesson's ablation:</b> {html.escape(self.ablated)}")
            view.status.setText("The strongest feature pushing the answer up was ablated; see the panel.")
        elif run.status == RunStatus.FAILED:
            view.panel.show_effect(f"Could not run the ablation: {html.escape(run.error or '')}")
