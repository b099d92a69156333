"""The chat pane: transcript(s) with tokens as hoverable, clickable anchors coloured by a chosen feature, the
system prompt, the sampling controls, and the input box with Send / Stop / Regenerate / Clear / Copy.

It renders the conversation sub-model (and colours tokens by the feature the feature focus names) and forwards
input to it. Streaming text is buffered and inserted at ~30 Hz with a text cursor (no full re-render per token)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QFont, QGuiApplication, QKeySequence, QShortcut, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..app.attribution_run import AnswerToken
from ..app.conversation import Conversation, Role, Turn
from ..app.feature_focus import ColorBy, FeatureFocus
from ..core.engine.run_names import Run
from ..core.features.naming import elide
from .lifetime import bind
from .sampling_bar import SamplingBar
from .text_selection import selected_tokens
from .theme import heat, is_dark
from .ticker import Ticker
from .token_tooltip import token_tooltip

ROLE_TITLES = {Role.USER: "You", Role.ASSISTANT: "Model", Role.ERROR: "Error"}


class Transcript(QTextBrowser):
    """One conversation view. Token anchors are ``tok:<run>:<index>``."""

    tokenHovered = Signal(str, int)
    tokenClicked = Signal(str, int)
    featuresRequested = Signal()  # "Features on this selection" from the context menu
    whyRequested = Signal(str, int)  # "Why this token?" on the token under the cursor: (run, index)

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
        token = _parse(self.anchorAt(pos))
        if token is not None:
            why = menu.addAction("Why this token?", lambda: self.whyRequested.emit(*token))
            why.setToolTip("The attribution graph of this token: which features, at which depths, made the "
                           "model say it (also Ctrl+click on the token)")
        return menu

    def contextMenuEvent(self, ev) -> None:  # noqa: N802
        self.context_menu(ev.pos()).exec(ev.globalPos())

    def _hover(self, url: QUrl) -> None:
        parsed = _parse(url.toString())
        if parsed:
            self.tokenHovered.emit(*parsed)

    def _click(self, url: QUrl) -> None:
        parsed = _parse(url.toString())
        if parsed and QGuiApplication.keyboardModifiers() & Qt.KeyboardModifier.ControlModifier:
            self.whyRequested.emit(*parsed)  # Ctrl+click: "Why this token?"
        elif parsed:
            self.tokenClicked.emit(*parsed)

    def add_heading(self, role: Role) -> None:
        cur = self.textCursor()
        cur.movePosition(QTextCursor.MoveOperation.End)
        if not self.document().isEmpty():
            cur.insertBlock()
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold)
        if role == Role.ERROR:
            fmt.setForeground(Qt.GlobalColor.red)
        cur.insertText(
            ROLE_TITLES[role] + ("" if role != Role.ASSISTANT or not self.title else f" ({self.title})"), fmt
        )
        cur.insertBlock()

    def add_plain(self, text: str, role: Role = Role.USER) -> None:
        cur = self.textCursor()
        cur.movePosition(QTextCursor.MoveOperation.End)
        fmt = QTextCharFormat()
        if role == Role.ERROR:
            fmt.setForeground(Qt.GlobalColor.red)
        cur.insertText(text, fmt)

    def add_tokens(self, events, value_of, vmax: float) -> None:
        """Append streamed tokens as anchors with a heat background."""
        cur = self.textCursor()
        cur.movePosition(QTextCursor.MoveOperation.End)
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


class ChatPane(QWidget):
    """Renders the conversation and forwards the user's input to it."""

    tokenHovered = Signal(object)  # TokenEvent
    tokenClicked = Signal(object)
    selectionFeaturesRequested = Signal(object, str)  # [(run, index)] of the selected tokens, the selected text
    whyRequested = Signal(object)  # an app.attribution_run.AnswerToken: "Why this token?"

    def __init__(self, conversation: Conversation, focus: FeatureFocus, parent: QWidget | None = None):
        super().__init__(parent)
        self.conv = conv = conversation
        self.focus = focus
        self._pending: list = []
        self.system = QLineEdit()
        self.system.setPlaceholderText("System prompt (optional): e.g. You are a concise assistant.")
        self.system.setToolTip("System prompt, sent with the chat template at the start of the conversation")
        self.system.textChanged.connect(conv.set_system)
        self.sampling = SamplingBar(conv)
        self.compare = QCheckBox("Side by side")
        self.compare.setToolTip("Also generate the default (unsteered) answer with the same seed and show both")
        self.compare.toggled.connect(conv.set_compare)
        self.color_label = QLabel("")
        self.color_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.color_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.color_label.setToolTip(
            "Tokens are coloured by this feature's activation (choose one in the feature panel)"
        )

        self.main_view = Transcript("")
        self.default_view = Transcript(Run.DEFAULT)
        self.default_view.hide()
        for v in (self.main_view, self.default_view):
            v.tokenHovered.connect(lambda run, i: self._emit_token(self.tokenHovered, run, i))
            v.tokenClicked.connect(lambda run, i: self._emit_token(self.tokenClicked, run, i))
            v.whyRequested.connect(lambda run, i: self.whyRequested.emit(AnswerToken(Run(run), i)))
            v.featuresRequested.connect(lambda v=v: self.selectionFeaturesRequested.emit(
                selected_tokens(v), v.textCursor().selectedText().replace("\u2029", "\n")))
        views = QSplitter(Qt.Orientation.Horizontal)
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
        self.regen_btn = QToolButton()
        self.regen_btn.setText("Regenerate")
        self.regen_btn.setToolTip("Answer the last message again with the current steering and sampling (Ctrl+R)")
        self.clear_btn = QToolButton()
        self.clear_btn.setText("Clear")
        self.clear_btn.setToolTip("Start a new conversation (Ctrl+L)")
        self.copy_btn = QToolButton()
        self.copy_btn.setText("Copy")
        self.copy_btn.setToolTip("Copy the conversation as plain text")
        self.send_btn.clicked.connect(self.send)
        self.stop_btn.clicked.connect(conv.stop)
        self.regen_btn.clicked.connect(conv.regenerate)
        self.clear_btn.clicked.connect(conv.clear)
        self.copy_btn.clicked.connect(self.copy_conversation)
        shortcut_context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        QShortcut(QKeySequence("Ctrl+Return"), self.input, self.send, context=shortcut_context)
        QShortcut(QKeySequence("Ctrl+Enter"), self.input, self.send, context=shortcut_context)

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
        for tb in (self.regen_btn, self.clear_btn, self.copy_btn):
            tools.addWidget(tb)
        tools.addWidget(self.color_label, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.system)
        lay.addLayout(top)
        lay.addWidget(views, 1)
        lay.addLayout(tools)
        lay.addLayout(row)

        self.ticker = Ticker(33, self._flush, self)  # streamed text goes in at ~30 Hz, not once per token
        bind(conv.turn_added, self, self._on_turn)
        bind(conv.answer_started, self, self._on_answer_started)
        bind(conv.token, self, self._on_token)
        bind(conv.answer_finished, self, self._on_answer_finished)
        bind(conv.reset, self, self.rerender)
        bind(conv.busy_changed, self, self.set_busy)
        bind(conv.model.ready_changed, self, lambda _r: self.set_busy(conv.busy))
        bind(conv.compare_changed, self, self._on_compare)
        bind(conv.system_changed, self, self._on_system)
        bind(focus.color_changed, self, self._on_color)
        self.set_busy(False)

    # --- input -------------------------------------------------------------------------------------------
    def send(self) -> None:
        if self.conv.send(self.input.toPlainText()):
            self.input.clear()

    def _on_system(self, text: str) -> None:
        if self.system.text() != text:
            self.system.setText(text)

    def _on_compare(self, on: bool) -> None:
        self.compare.blockSignals(True)
        self.compare.setChecked(on)
        self.compare.blockSignals(False)
        self.default_view.setVisible(on)
        self.main_view.title = Run.STEERED if on else ""
        if not self.conv.busy:
            self.rerender()

    def set_busy(self, busy: bool) -> None:
        ready = self.conv.model.ready
        self.send_btn.setEnabled(ready and not busy)
        self.stop_btn.setEnabled(busy)
        self.regen_btn.setEnabled(ready and not busy)
        self.clear_btn.setEnabled(not busy)

    # --- conversation ------------------------------------------------------------------------------------
    def _on_turn(self, turn: Turn) -> None:
        if turn.role == Role.ERROR:  # replaces the answer's heading drawn when it started
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
        for run, view in ((Run.MAIN, self.main_view), (Run.STEERED, self.main_view), (Run.DEFAULT, self.default_view)):
            evs = [e for e in batch if e.run == run]
            if evs:
                view.add_tokens(evs, self._value, self._vmax())

    def _on_answer_finished(self, turn, _result) -> None:
        self.ticker.flush()
        if turn is not None and turn.stop_reason == "cancelled":
            self.main_view.add_plain("  [stopped]", Role.USER)

    def copy_conversation(self) -> None:
        lines = [f"{ROLE_TITLES[t.role]}: {t.content}" for t in self.conv.turns]
        QGuiApplication.clipboard().setText("\n\n".join(lines))

    # --- colouring / re-render ----------------------------------------------------------------------------
    def _on_color(self, color: ColorBy | None) -> None:
        self.color_label.setText("" if color is None else elide(f"Colour: #{color.feature} {color.label}", 60))
        self.rerender()

    def _vmax(self) -> float:
        c = self.focus.color
        return c.vmax if c is not None else 1.0

    def _value(self, ev) -> float:
        c = self.focus.color
        if c is None or ev.top_ids is None:
            return 0.0
        hit = (ev.top_ids == c.feature).nonzero()[0]
        return float(ev.top_vals[hit[0]]) if len(hit) else 0.0

    def rerender(self) -> None:
        """Draw the whole conversation (and the answer streaming now, if any)."""
        conv = self.conv
        self._pending.clear()
        for v in (self.main_view, self.default_view):
            v.clear()
        for view, run_keys in ((self.main_view, (Run.MAIN, Run.STEERED)), (self.default_view, (Run.DEFAULT,))):
            if view is self.default_view and not conv.compare:
                continue
            for t in conv.turns:
                view.add_heading(t.role)
                evs = next((t.events[k] for k in run_keys if t.events.get(k)), None)
                if t.role != Role.ASSISTANT:
                    view.add_plain(t.content, t.role)
                elif evs:
                    view.add_tokens(evs, self._value, self._vmax())
                else:
                    view.add_plain(t.default if view is self.default_view else t.content, Role.USER)
            if conv.busy:
                view.add_heading(Role.ASSISTANT)
                streamed = [e for k in run_keys for e in conv.stream.get(k, ())]
                view.add_tokens(streamed, self._value, self._vmax())

    def _views(self):
        return (self.main_view, self.default_view) if self.conv.compare else (self.main_view,)

    def tooltip_for(self, ev) -> str:
        """Hover text: the token's features and next-token alternatives, and side by side the other run's at
        the same position."""
        other = None
        if ev.run in (Run.STEERED, Run.DEFAULT):
            other = self.conv.events.get((Run.DEFAULT if ev.run == Run.STEERED else Run.STEERED, ev.index))
        return token_tooltip(ev, self.focus.label, other)

    def _emit_token(self, sig, run: str, idx: int) -> None:
        ev = self.conv.events.get((Run(run), idx))
        if ev is not None:
            sig.emit(ev)
