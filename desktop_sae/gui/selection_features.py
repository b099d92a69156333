"""Features on a selection of the chat: the tokens a mouse drag covers in a transcript, and a small window listing
the features most active over exactly those tokens (read in their conversation, computed by a job), with Steer /
Inspect / Pin per feature."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout

from ..app.discover import DiscoverError, span_job, span_request, steer_found, text_job
from ..core.support.errors import DesktopSAEError
from .feature_hits_table import FeatureHitsTable

COLUMNS = ("feature", "max", "mean", "tokens", "peaks at", "label")


def selected_tokens(view) -> list[tuple[str, int]]:
    """(run, index) of every token anchor (``tok:<run>:<index>``) the selection of a ``Transcript`` touches."""
    cur = view.textCursor()
    if not cur.hasSelection():
        return []
    lo, hi = cur.selectionStart(), cur.selectionEnd()
    out, doc = [], view.document()
    block = doc.findBlock(lo)
    while block.isValid() and block.position() < hi:
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            a, b = frag.position(), frag.position() + frag.length()
            href = frag.charFormat().anchorHref() if frag.charFormat().isAnchor() else ""
            if b > lo and a < hi and href.startswith("tok:"):
                _, run, idx = href.split(":", 2)
                out.append((run, int(idx)))
            it += 1
        block = block.next()
    return list(dict.fromkeys(out))


class SelectionFeatures(QDialog):
    """One per window: ``request(tokens, text)`` computes and shows the features of a selection."""

    steered = Signal(int)
    inspectRequested = Signal(int)

    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.ctl = ctl = controller
        self.job: int | None = None
        self.result = None  # core.features.TextFeatures
        self._what = ""
        self.setWindowTitle("Features on this selection")
        self.resize(720, 420)
        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.table = FeatureHitsTable()
        self.table.steerRequested.connect(self.steer)
        self.table.inspectRequested.connect(self.inspect)
        self.table.pinRequested.connect(ctl.toggle_pin)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.note)
        lay.addWidget(self.table, 1)
        ctl.pins_changed.connect(self.table.show_pinned)
        ctl.model_loaded.connect(lambda _i: self._show(None))

    def request(self, tokens, text: str = "") -> int | None:
        """Features over the selected answer tokens ``tokens`` [(run, index)], in context; a selection without
        answer tokens (a user message) is read as plain text on its own."""
        self.show()
        self.raise_()
        self._show(None)
        st = self.ctl.state
        if not st.ready or st.info is None or st.info.sae is None:
            return self._fail("Load a model and an SAE first.")
        try:
            if tokens:
                runs = {r for r, _i in tokens}
                if len(runs) > 1:
                    raise DiscoverError("select tokens of one answer")
                req = span_request(st, runs.pop(), [i for _r, i in tokens])
                job, what = span_job(req), (req.text, "read in their conversation, without steering")
            elif text.strip():
                job, what = text_job(text.strip()), (text.strip(), "read as plain text on its own (no answer "
                                                                   "tokens selected)")
            else:
                raise DiscoverError("select some tokens of an answer first")
        except DiscoverError as e:
            return self._fail(str(e))
        shown = what[0] if len(what[0]) <= 160 else what[0][:157] + "…"
        self.title.setText(f"<b>Selection:</b> {_esc(shown)}")
        self.note.setText(f"Computing the features over these tokens, {what[1]}…")
        self._what = what[1]
        self.job = self.ctl.run_job("span", job, on_done=self._done, on_failed=self._failed)
        return self.job

    def _done(self, msg) -> None:
        if msg.job_id == self.job:
            self.job = None
            self._show(msg.result)

    def _failed(self, msg) -> None:
        if msg.job_id == self.job:
            self.job = None
            self._fail(msg.message)

    def _fail(self, message: str) -> None:
        self.note.setText(f"<span style='color:#c0392b'>{_esc(message)}</span>")
        return None

    def _show(self, res) -> None:
        self.result = res
        if res is None:
            self.table.set_rows(COLUMNS, [])
            return
        label = self.ctl.state.label
        rows = [(h.feature, (f"{h.max:.2f}", f"{h.mean:.2f}", f"{h.tokens_active}/{len(res.tokens)}",
                             repr(h.at_token)[1:-1], label(h.feature) or h.label or "—"), h.demo or h.label)
                for h in res.features]
        self.table.set_rows(COLUMNS, rows, numeric=(1, 2, 3))
        self.table.show_pinned(self.ctl.state.pinned)
        self.note.setText(f"{len(res.features)} features over {len(res.tokens)} tokens, {self._what}; "
                          f"strongest (max) first; mean over the selected tokens.")

    def steer(self, f: int) -> None:
        try:
            steer_found(self.ctl, f)
        except DesktopSAEError as e:
            self.ctl.report_error("Could not steer", str(e))
            return
        self.steered.emit(f)

    def inspect(self, f: int) -> None:
        self.ctl.select(f)
        self.inspectRequested.emit(f)


def _esc(s: str) -> str:
    import html

    return html.escape(s)
