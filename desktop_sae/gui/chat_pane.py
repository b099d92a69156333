"""The chat pane: transcript(s) with tokens as hoverable, clickable anchors coloured by a chosen feature, the
system prompt, the sampling controls, and the input box with Send / Stop / Regenerate / Clear / Copy.

It renders the controller's conversation and forwards input to the controller. Streaming text is buffered and
inserted at ~30 Hz with a text cursor (no full re-render per token)."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QFont, QGuiApplication, QKeySequence, QShortcut, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .selection_features import selected_tokens
from .theme import heat, is_dark
from .ticker import Ticker
from .token_tooltip import token_tooltip

ROLE_TITLES = {"user": "You", "assistant": "Model", "system": "System", "error": "Error"}


class Transcript(QTextBrowser):
    """One conversation view. Token anchors are ``tok:<run>:<index>``."""

    tokenHovered = Signal(str, int)
    tokenClicked = Signal(str, int)
    featuresRequested = Signal()  # "Features on this selection" from the context menu

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.title = title
        self.setOpenLinks(False)
        self.setMouseTracking(True)
        self.highlighted.connect(self._hover)
        self.anchorClicked.connect(self._click)
        self.setPlaceholderText("The conversation appears here. Type below and press Ctrl+Enter.")

    def context_menu(self, pos) -> QMenu:
        menu = self.createStandardContextMenu(pos)
        menu.addSeparator()
        a = menu.addAction("Features on this selection", self.featuresRequested.emit)
        a.setEnabled(self.textCursor().hasSelection())
        a.setToolTip("The SAE features most active over the selected tokens")
        return menu

    def contextMenuEvent(self, ev) -> None:  # noqa: N802
        self.context_menu(ev.pos()).exec(ev.globalPos())

    def _hover(self, url: QUrl) -> None:
        parsed = _parse(url.toString())
        if parsed:
            self.tokenHovered.emit(*parsed)

    def _click(self, url: QUrl) -> None:
        parsed = _parse(url.toString())
        if parsed:
            self.tokenClicked.emit(*parsed)

    def add_heading(self, role: str) -> None:
        cur = self.textCursor()
        cur.movePosition(QTextCursor.End)
        if not self.document().isEmpty():
            cur.insertBlock()
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Bold)
        if role == "error":
            fmt.setForeground(Qt.red)
        cur.insertText(
            ROLE_TITLES.get(role, role) + ("" if role != "assistant" or not self.title else f" ({self.title})"), fmt
        )
        cur.insertBlock()

    def add_plain(self, text: str, role: str = "user") -> None:
        cur = self.textCursor()
        cur.movePosition(QTextCursor.End)
        fmt = QTextCharFormat()
        if role == "error":
            fmt.setForeground(Qt.red)
        cur.insertText(text, fmt)

    def add_tokens(self, events, value_of, vmax: float) -> None:
        """Append streamed tokens as anchors with a heat background."""
        cur = self.textCursor()
        cur.movePosition(QTextCursor.End)
        dark = is_dark(self.palette())
        for ev in events:
            if not ev.delta:
                continue
            fmt = QTextCharFormat()
            fmt.setAnchor(True)
            fmt.setAnchorHref(f"tok:{ev.run}:{ev.index}")
            fmt.setBackground(heat(value_of(ev), vmax, dark))
            cur.insertText(ev.delta, fmt)
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())


def _parse(href: str):
    if href.startswith("tok:"):
        try:
            _, run, idx = href.split(":", 2)
            return run, int(idx)
        except ValueError:
            return None
    return None


class SamplingBar(QWidget):
    """Temperature, top-p, frequency penalty, seed and max tokens: edits go to the controller, and the controller's
    sampling (a preset, a lesson) shows here."""

    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.ctl = controller
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)

        def dspin(lo, hi, step, dec, tip):
            w = QDoubleSpinBox()
            w.setRange(lo, hi)
            w.setSingleStep(step)
            w.setDecimals(dec)
            w.setToolTip(tip)
            return w

        self.temperature = dspin(0, 2, 0.05, 2, "Temperature (0 = greedy). Neuronpedia's steering default is 0.5.")
        self.top_p = dspin(0.01, 1, 0.05, 2, "Top-p (nucleus) sampling; 1 = off")
        self.freq = dspin(0, 2, 0.1, 2, "Frequency penalty: subtracted per earlier use of a token in the answer")
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.seed.setToolTip("Random seed (same seed + same settings = same answer); 'random' = new each time")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 4096)
        self.max_tokens.setToolTip("Maximum tokens in an answer")
        for text, w in (
            ("Temp", self.temperature),
            ("Top-p", self.top_p),
            ("Freq. pen.", self.freq),
            ("Seed", self.seed),
            ("Max tokens", self.max_tokens),
        ):
            lab = QLabel(text)
            lab.setBuddy(w)
            lay.addWidget(lab)
            lay.addWidget(w)
            w.valueChanged.connect(self._edited)
        lay.addStretch(1)
        self.show_config(controller.state.sampling)
        controller.sampling_changed.connect(self.show_config)

    def _edited(self, *_) -> None:
        seed = self.seed.value()
        cfg = replace(
            self.ctl.state.sampling,
            temperature=round(self.temperature.value(), 4),
            top_p=round(self.top_p.value(), 4),
            frequency_penalty=round(self.freq.value(), 4),
            seed=None if seed < 0 else seed,
            max_new_tokens=self.max_tokens.value(),
        )
        self.ctl.set_sampling(cfg)

    def show_config(self, c) -> None:
        for w, v in (
            (self.temperature, c.temperature),
            (self.top_p, c.top_p),
            (self.freq, c.frequency_penalty),
            (self.seed, -1 if c.seed is None else min(int(c.seed), 2**31 - 1)),
            (self.max_tokens, max(1, c.max_new_tokens)),
        ):
            w.blockSignals(True)
            w.setValue(v)
            w.blockSignals(False)


class ChatPane(QWidget):
    """Renders the controller's conversation and forwards the user's input to it."""

    tokenHovered = Signal(object)  # TokenEvent
    tokenClicked = Signal(object)
    selectionFeaturesRequested = Signal(object, str)  # [(run, index)] of the selected tokens, the selected text

    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.ctl = ctl = controller
        self._pending: list = []
        self.system = QLineEdit()
        self.system.setPlaceholderText("System prompt (optional): e.g. You are a concise assistant.")
        self.system.setToolTip("System prompt, sent with the chat template at the start of the conversation")
        self.system.textChanged.connect(ctl.set_system)
        self.sampling = SamplingBar(ctl)
        self.compare = QCheckBox("Side by side")
        self.compare.setToolTip("Also generate the default (unsteered) answer with the same seed and show both")
        self.compare.toggled.connect(ctl.set_compare)
        self.color_label = QLabel("")
        self.color_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.color_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.color_label.setToolTip(
            "Tokens are coloured by this feature's activation (choose one in the feature panel)"
        )

        self.main_view = Transcript("")
        self.default_view = Transcript("default")
        self.default_view.hide()
        for v in (self.main_view, self.default_view):
            v.tokenHovered.connect(lambda run, i: self._emit_token(self.tokenHovered, run, i))
            v.tokenClicked.connect(lambda run, i: self._emit_token(self.tokenClicked, run, i))
            v.featuresRequested.connect(lambda v=v: self.selectionFeaturesRequested.emit(
                selected_tokens(v), v.textCursor().selectedText().replace("\u2029", "\n")))
        views = QSplitter(Qt.Horizontal)
        views.addWidget(self.main_view)
        views.addWidget(self.default_view)

        self.input = QPlainTextEdit()
        self.input.setPlaceholderText("Message the model…  (Ctrl+Enter to send, Esc to stop)")
        self.input.setMaximumHeight(90)
        self.send_btn = QPushButton("Send")
        self.send_btn.setToolTip("Send the message (Ctrl+Enter)")
        self.send_btn.setDefault(True)
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setToolTip("Stop the answer (Esc); the part written so far is kept")
        self.stop_btn.setEnabled(False)
        self.regen_btn = QToolButton(text="Regenerate")
        self.regen_btn.setToolTip("Answer the last message again with the current steering and sampling (Ctrl+R)")
        self.clear_btn = QToolButton(text="Clear")
        self.clear_btn.setToolTip("Start a new conversation (Ctrl+L)")
        self.copy_btn = QToolButton(text="Copy")
        self.copy_btn.setToolTip("Copy the conversation as plain text")
        self.send_btn.clicked.connect(self.send)
        self.stop_btn.clicked.connect(ctl.stop)
        self.regen_btn.clicked.connect(ctl.regenerate)
        self.clear_btn.clicked.connect(ctl.clear)
        self.copy_btn.clicked.connect(self.copy_conversation)
        QShortcut(QKeySequence("Ctrl+Return"), self.input, self.send, context=Qt.WidgetWithChildrenShortcut)
        QShortcut(QKeySequence("Ctrl+Enter"), self.input, self.send, context=Qt.WidgetWithChildrenShortcut)

        top = QHBoxLayout()
        top.addWidget(self.sampling, 1)
        top.addWidget(self.compare)
        buttons = QVBoxLayout()
        for b in (self.send_btn, self.stop_btn):
            buttons.addWidget(b)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addLayout(buttons)
        tools = QHBoxLayout()
        for b in (self.regen_btn, self.clear_btn, self.copy_btn):
            tools.addWidget(b)
        tools.addWidget(self.color_label, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.system)
        lay.addLayout(top)
        lay.addWidget(views, 1)
        lay.addLayout(tools)
        lay.addLayout(row)

        self.ticker = Ticker(33, self._flush, self)  # streamed text goes in at ~30 Hz, not once per token
        ctl.turn_added.connect(self._on_turn)
        ctl.answer_started.connect(self._on_answer_started)
        ctl.token.connect(self._on_token)
        ctl.answer_finished.connect(self._on_answer_finished)
        ctl.conversation_reset.connect(self.rerender)
        ctl.busy_changed.connect(self.set_busy)
        ctl.ready_changed.connect(lambda _r: self.set_busy(ctl.state.busy))
        ctl.compare_changed.connect(self._on_compare)
        ctl.system_changed.connect(lambda t: self.system.text() != t and self.system.setText(t))
        ctl.color_changed.connect(self._on_color)
        self.set_busy(False)

    # --- input -------------------------------------------------------------------------------------------
    def send(self) -> None:
        if self.ctl.send(self.input.toPlainText()):
            self.input.clear()

    def _on_compare(self, on: bool) -> None:
        self.compare.blockSignals(True)
        self.compare.setChecked(on)
        self.compare.blockSignals(False)
        self.default_view.setVisible(on)
        self.main_view.title = "steered" if on else ""
        if not self.ctl.state.busy:
            self.rerender()

    def set_busy(self, busy: bool) -> None:
        ready = self.ctl.state.ready
        self.send_btn.setEnabled(ready and not busy)
        self.stop_btn.setEnabled(busy)
        self.regen_btn.setEnabled(ready and not busy)
        self.clear_btn.setEnabled(not busy)

    # --- conversation ------------------------------------------------------------------------------------
    def _on_turn(self, turn) -> None:
        if turn.role == "error":  # replaces the answer's heading drawn when it started
            self.rerender()
            return
        for v in self._views():
            v.add_heading(turn.role)
            v.add_plain(turn.content, turn.role)

    def _on_answer_started(self, runs, _watch) -> None:
        self._pending.clear()
        self.rerender()  # drops the partial text of an answer this one replaces
        self.ticker.poke()

    def _on_token(self, ev) -> None:
        if not ev.is_prompt:
            self._pending.append(ev)
            self.ticker.poke()

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        for run, view in (("main", self.main_view), ("steered", self.main_view), ("default", self.default_view)):
            evs = [e for e in batch if e.run == run]
            if evs:
                view.add_tokens(evs, self._value, self._vmax())

    def _on_answer_finished(self, turn, _result) -> None:
        self.ticker.flush()
        if turn is not None and turn.stop_reason == "cancelled":
            self.main_view.add_plain("  [stopped]", "user")

    def copy_conversation(self) -> None:
        lines = [f"{ROLE_TITLES.get(t.role, t.role)}: {t.content}" for t in self.ctl.state.turns]
        QGuiApplication.clipboard().setText("\n\n".join(lines))

    # --- colouring / re-render ----------------------------------------------------------------------------
    def _on_color(self, color) -> None:
        self.color_label.setText("" if color is None else f"Colour: #{color.feature} {color.label}"[:60])
        self.rerender()

    def _vmax(self) -> float:
        c = self.ctl.state.color
        return c.vmax if c is not None else 1.0

    def _value(self, ev) -> float:
        c = self.ctl.state.color
        if c is None or ev.top_ids is None:
            return 0.0
        hit = (ev.top_ids == c.feature).nonzero()[0]
        return float(ev.top_vals[hit[0]]) if len(hit) else 0.0

    def rerender(self) -> None:
        """Draw the whole conversation from the controller's state (and the answer streaming now, if any)."""
        st = self.ctl.state
        self._pending.clear()
        for v in (self.main_view, self.default_view):
            v.clear()
        for view, run_keys in ((self.main_view, ("main", "steered")), (self.default_view, ("default",))):
            if view is self.default_view and not st.compare:
                continue
            for t in st.turns:
                view.add_heading(t.role)
                evs = next((t.events[k] for k in run_keys if t.events.get(k)), None)
                if t.role != "assistant":
                    view.add_plain(t.content, t.role)
                elif evs:
                    view.add_tokens(evs, self._value, self._vmax())
                else:
                    view.add_plain(t.default if view is self.default_view else t.content, "user")
            if st.busy:
                view.add_heading("assistant")
                evs = [e for k in run_keys for e in self.ctl.stream.get(k, ())]
                view.add_tokens(evs, self._value, self._vmax())

    def _views(self):
        return (self.main_view, self.default_view) if self.ctl.state.compare else (self.main_view,)

    def tooltip_for(self, ev) -> str:
        """Hover text: the token's features and next-token alternatives, and side by side the other run's at
        the same position."""
        other = None
        if ev.run in ("steered", "default"):
            other = self.ctl.events.get(("default" if ev.run == "steered" else "steered", ev.index))
        return token_tooltip(ev, self.ctl.state.label, other)

    def _emit_token(self, sig, run: str, idx: int) -> None:
        ev = self.ctl.events.get((run, idx))
        if ev is not None:
            sig.emit(ev)
