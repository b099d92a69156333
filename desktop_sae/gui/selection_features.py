"""Features on a selection of the chat: the tokens a mouse drag covers in a transcript, and a small window listing
the features most active over exactly those tokens (read in their conversation, computed by a job), with Steer /
Inspect / Pin per feature."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget

from ..app.controller import Controller
from ..app.discover import DiscoverError, steer_found
from ..app.runs import RunChange, RunStatus
from ..app.selection_run import SelectionRun, span_request
from ..core.engine.run_names import Run
from ..core.support.errors import DesktopSAEError
from .feature_hits_table import FeatureHitsTable, name_cell
from .lifetime import bind, own_run

if TYPE_CHECKING:
    from ..core.features.readout import TextFeatures

COLUMNS = ("feature", "max", "mean", "tokens", "peaks at", "label")


class SelectionFeatures(QDialog):
    """One per window: ``request(tokens, text)`` computes and shows the features of a selection."""

    steered = Signal(int)
    inspectRequested = Signal(int)

    def __init__(self, controller: Controller, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctl = ctl = controller
        self.run = SelectionRun(ctl.jobs)
        own_run(self, self.run)
        self.text_features: TextFeatures | None = None
        self.setWindowTitle("Features on this selection")
        self.resize(720, 420)
        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.table = FeatureHitsTable()
        self.table.steerRequested.connect(self.steer)
        self.table.inspectRequested.connect(self.inspect)
        self.table.pinRequested.connect(ctl.features.toggle_pin)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.note)
        lay.addWidget(self.table, 1)
        bind(ctl.features.pins_changed, self, self.table.show_pinned)
        bind(ctl.model.loaded, self, lambda _i: self._show(None))
        bind(self.run.changed, self, self._on_run)

    def request(self, tokens: list[tuple[str, int]], text: str = "") -> int | None:
        """Features over the selected answer tokens ``tokens`` [(run, index)], in context; a selection without
        answer tokens (a user message) is read as plain text on its own."""
        self.show()
        self.raise_()
        self._show(None)
        if not self.ctl.model.ready or not self.ctl.model.has_sae:
            self._fail("Load a model and an SAE first.")
            return None
        conv = self.ctl.conversation
        try:
            if tokens:
                runs = {r for r, _i in tokens}
                if len(runs) > 1:
                    raise DiscoverError("select tokens of one answer")
                job = self.run.start_span(span_request(conv.turns, conv.system, Run(runs.pop()),
                                                       [i for _r, i in tokens]))
            elif text.strip():
                job = self.run.start_text(text.strip())
            else:
                raise DiscoverError("select some tokens of an answer first")
        except DiscoverError as e:
            self._fail(str(e))
            return None
        shown = self.run.text if len(self.run.text) <= 160 else self.run.text[:157] + "…"
        self.title.setText(f"<b>Selection:</b> {_esc(shown)}")
        self.note.setText(f"Computing the features over these tokens, {self.run.how}…")
        return job

    def _on_run(self, what: RunChange) -> None:
        if self.run.status == RunStatus.DONE:
            self._show(self.run.result)
        elif self.run.status == RunStatus.FAILED:
            self._fail(self.run.error or "")

    def _fail(self, message: str) -> None:
        self.note.setText(f"<span style='color:#c0392b'>{_esc(message)}</span>")

    def _show(self, res: TextFeatures | None) -> None:
        self.text_features = res
        if res is None:
            self.table.set_rows(COLUMNS, [])
            return
        names = [name_cell(self.ctl.model.label(h.feature), h.label, h.demo) for h in res.features]
        rows = [(h.feature, (f"{h.max:.2f}", f"{h.mean:.2f}", f"{h.tokens_active}/{len(res.tokens)}",
                             repr(h.at_token)[1:-1], name), tip)
                for h, (name, tip) in zip(res.features, names)]
        self.table.set_rows(COLUMNS, rows, numeric=(1, 2, 3))
        self.table.show_pinned(self.ctl.features.pinned)
        self.note.setText(f"{len(res.features)} features over {len(res.tokens)} tokens, {self.run.how}; "
                          f"strongest (max) first; mean over the selected tokens.")

    def steer(self, f: int) -> None:
        try:
            steer_found(self.ctl.steering, f)
        except DesktopSAEError as e:
            self.ctl.notices.report_error("Could not steer", str(e))
            return
        self.steered.emit(f)

    def inspect(self, f: int) -> None:
        self.ctl.features.select(f)
        self.inspectRequested.emit(f)


def _esc(s: str) -> str:
    import html

    return html.escape(s)
