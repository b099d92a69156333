"""The chat pane: transcript(s) with tokens as hoverable, clickable anchors coloured by a chosen feature, the
system prompt, the sampling controls, and the input box with Send / Stop / Regenerate / Clear / Copy.

Streaming text is buffered and inserted at ~30 Hz with a text cursor (no full re-render per token)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut, QTextCharFormat, QTextCursor, QFont
from PySide6.QtWidgets import (
    QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSizePolicy, QSpinBox,
    QSplitter,
    QTextBrowser, QToolButton, QVBoxLayout, QWidget,
)

from .theme import heat, is_dark

ROLE_TITLES = {"user": "You", "assistant": "Model", "system": "System", "error": "Error"}


class Transcript(QTextBrowser):
    """One conversation view. Token anchors are ``tok:<run>:<index>``."""

    tokenHovered = Signal(str, int)
    tokenClicked = Signal(str, int)

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.title = title
        self.setOpenLinks(False)
        self.setMouseTracking(True)
        self.highlighted.connect(self._hover)
        self.anchorClicked.connect(self._click)
        self.setPlaceholderText("The conversation appears here. Type below and press Ctrl+Enter.")

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
        cur.insertText(ROLE_TITLES.get(role, role) + ("" if role != "assistant" or not self.title else f" ({self.title})"), fmt)
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
    """Temperature, top-p, frequency penalty, seed and max tokens."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)

        def dspin(lo, hi, step, dec, tip):
            w = QDoubleSpinBox()
            w.setRange(lo, hi)
            w.setSingleStep(step)
            w.setDecimals(dec)
            w.setToolTip(tip)
            w.valueChanged.connect(self.changed)
            return w

        self.temperature = dspin(0, 2, 0.05, 2, "Temperature (0 = greedy). Neuronpedia's steering default is 0.5.")
        self.top_p = dspin(0.01, 1, 0.05, 2, "Top-p (nucleus) sampling; 1 = off")
        self.freq = dspin(0, 2, 0.1, 2, "Frequency penalty: subtracted per earlier use of a token in the answer")
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.seed.setToolTip("Random seed (same seed + same settings = same answer); 'random' = new each time")
        self.seed.valueChanged.connect(self.changed)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 4096)
        self.max_tokens.setToolTip("Maximum tokens in an answer")
        self.max_tokens.valueChanged.connect(self.changed)
        for text, w in (("Temp", self.temperature), ("Top-p", self.top_p), ("Freq. pen.", self.freq),
                        ("Seed", self.seed), ("Max tokens", self.max_tokens)):
            lab = QLabel(text)
            lab.setBuddy(w)
            lay.addWidget(lab)
            lay.addWidget(w)
        lay.addStretch(1)
        self._extra = None
        self.temperature.setValue(0.5)  # core.generation.SamplingConfig's defaults (Neuronpedia's)
        self.top_p.setValue(1.0)
        self.freq.setValue(1.0)
        self.seed.setValue(42)
        self.max_tokens.setValue(128)

    def config(self):
        """The settings as a core SamplingConfig (imported lazily: torch must not load before the first paint)."""
        from ..core.generation import SamplingConfig

        seed = self.seed.value()
        return SamplingConfig(
            temperature=round(self.temperature.value(), 4), top_p=round(self.top_p.value(), 4),
            frequency_penalty=round(self.freq.value(), 4), seed=None if seed < 0 else seed,
            max_new_tokens=self.max_tokens.value(),
        )

    def set_config(self, c) -> None:
        self._extra = c  # keeps top_k / repetition_penalty that have no control here
        self.temperature.setValue(c.temperature)
        self.top_p.setValue(c.top_p)
        self.freq.setValue(c.frequency_penalty)
        self.seed.setValue(-1 if c.seed is None else min(int(c.seed), 2**31 - 1))
        self.max_tokens.setValue(max(1, c.max_new_tokens))

    def full_config(self):
        from dataclasses import replace

        c = self.config()
        return c if self._extra is None else replace(c, top_k=self._extra.top_k, repetition_penalty=self._extra.repetition_penalty)


class ChatPane(QWidget):
    sendRequested = Signal(str)
    stopRequested = Signal()
    regenerateRequested = Signal()
    clearRequested = Signal()
    tokenHovered = Signal(object)  # TokenEvent
    tokenClicked = Signal(object)
    compareToggled = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.messages: list[dict] = []  # the conversation sent to the model (role, content)
        self.turns: list[dict] = []  # display: {"role", "content", "events": {run: [TokenEvent]}, "default": str}
        self.events: dict[tuple[str, int], object] = {}
        self.color_feature: int | None = None
        self.color_vmax = 1.0
        self._pending: list = []
        self.busy = False

        self.system = QLineEdit()
        self.system.setPlaceholderText("System prompt (optional): e.g. You are a concise assistant.")
        self.system.setToolTip("System prompt, sent with the chat template at the start of the conversation")
        self.sampling = SamplingBar()
        self.compare = QCheckBox("Side by side")
        self.compare.setToolTip("Also generate the default (unsteered) answer with the same seed and show both")
        self.compare.toggled.connect(self._on_compare)
        self.color_label = QLabel("")
        self.color_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.color_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.color_label.setToolTip("Tokens are coloured by this feature's activation (choose one in the feature panel)")

        self.main_view = Transcript("")
        self.default_view = Transcript("default")
        self.default_view.hide()
        for v in (self.main_view, self.default_view):
            v.tokenHovered.connect(lambda run, i: self._emit_token(self.tokenHovered, run, i))
            v.tokenClicked.connect(lambda run, i: self._emit_token(self.tokenClicked, run, i))
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
        self.send_btn.clicked.connect(self._send)
        self.stop_btn.clicked.connect(self.stopRequested)
        self.regen_btn.clicked.connect(self.regenerateRequested)
        self.clear_btn.clicked.connect(self.clearRequested)
        self.copy_btn.clicked.connect(self.copy_conversation)
        QShortcut(QKeySequence("Ctrl+Return"), self.input, self._send, context=Qt.WidgetWithChildrenShortcut)
        QShortcut(QKeySequence("Ctrl+Enter"), self.input, self._send, context=Qt.WidgetWithChildrenShortcut)

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

        self.timer = QTimer(self)
        self.timer.setInterval(33)
        self.timer.timeout.connect(self._flush)
        self.timer.start()

    # --- input -------------------------------------------------------------------------------------------
    def _send(self) -> None:
        text = self.input.toPlainText().strip()
        if text and not self.busy:
            self.sendRequested.emit(text)

    def _on_compare(self, on: bool) -> None:
        self.default_view.setVisible(on)
        self.main_view.title = "steered" if on else ""
        self.compareToggled.emit(on)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.send_btn.setEnabled(not busy)
        self.stop_btn.setEnabled(busy)
        self.regen_btn.setEnabled(not busy)
        self.clear_btn.setEnabled(not busy)

    def system_prompt(self) -> str | None:
        return self.system.text().strip() or None

    # --- conversation ------------------------------------------------------------------------------------
    def add_user(self, text: str) -> None:
        self.input.clear()
        self.messages.append({"role": "user", "content": text})
        self.turns.append({"role": "user", "content": text})
        for v in self._views():
            v.add_heading("user")
            v.add_plain(text)

    def begin_answer(self, runs: tuple[str, ...]) -> None:
        self._pending.clear()
        self.turns.append({"role": "assistant", "content": "", "events": {r: [] for r in runs}, "default": ""})
        for v in self._views():
            v.add_heading("assistant")

    def add_event(self, ev) -> None:
        if ev.is_prompt:
            self.events[(ev.run, ev.index)] = ev
            return
        self._pending.append(ev)

    def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        turn = self.turns[-1] if self.turns and self.turns[-1]["role"] == "assistant" else None
        for run, view in (("main", self.main_view), ("steered", self.main_view), ("default", self.default_view)):
            evs = [e for e in batch if e.run == run]
            if evs:
                view.add_tokens(evs, self._value, self.color_vmax)
        for e in batch:
            self.events[(e.run, e.index)] = e
            if turn is not None:
                turn["events"].setdefault(e.run, []).append(e)

    def finish_answer(self, results: dict) -> None:
        self._flush()
        main = results.get("main") or results.get("steered")
        if not self.turns or self.turns[-1]["role"] != "assistant":
            self.begin_answer(tuple(results))
        turn = self.turns[-1]
        turn["content"] = main.text
        if "default" in results:
            turn["default"] = results["default"].text
        self.messages.append({"role": "assistant", "content": main.text})
        if main.stop_reason == "cancelled":
            self.main_view.add_plain("  [stopped]", "user")

    def add_error(self, message: str) -> None:
        """Show an error in the transcript; an unanswered user message is kept so Regenerate can retry."""
        self._flush()
        if self.turns and self.turns[-1]["role"] == "assistant" and not self.turns[-1]["content"]:
            self.turns.pop()
        self.turns.append({"role": "error", "content": message})
        for v in self._views():
            v.add_heading("error")
            v.add_plain(message, "error")

    def pop_last_answer(self) -> bool:
        """For Regenerate: drop the last answer (and any error after it); True if a user message is last."""
        while self.turns and self.turns[-1]["role"] in ("assistant", "error"):
            self.turns.pop()
        if self.messages and self.messages[-1]["role"] == "assistant":
            self.messages.pop()
        self.rerender()
        return bool(self.messages) and self.messages[-1]["role"] == "user"

    def clear(self) -> None:
        self.messages.clear()
        self.turns.clear()
        self.events.clear()
        self._pending.clear()
        self.rerender()

    def last_answer(self, run: str = "main") -> str:
        for t in reversed(self.turns):
            if t["role"] == "assistant":
                return t["default"] if run == "default" else t["content"]
        return ""

    def copy_conversation(self) -> None:
        lines = [f"{ROLE_TITLES.get(t['role'], t['role'])}: {t['content']}" for t in self.turns]
        QGuiApplication.clipboard().setText("\n\n".join(lines))

    # --- colouring / re-render ----------------------------------------------------------------------------
    def set_color_feature(self, feature: int | None, vmax: float, label: str = "") -> None:
        self.color_feature = feature
        self.color_vmax = vmax if vmax and vmax > 0 else 1.0
        self.color_label.setText("" if feature is None else f"Colour: #{feature} {label}"[:60])
        self.rerender()

    def _value(self, ev) -> float:
        f = self.color_feature
        if f is None or ev.top_ids is None:
            return 0.0
        hit = (ev.top_ids == f).nonzero()[0]
        return float(ev.top_vals[hit[0]]) if len(hit) else 0.0

    def rerender(self) -> None:
        for v in (self.main_view, self.default_view):
            v.clear()
        for t in self.turns:
            for view, run_keys in ((self.main_view, ("main", "steered")), (self.default_view, ("default",))):
                if view is self.default_view and not self.compare.isChecked():
                    continue
                view.add_heading(t["role"])
                if t["role"] != "assistant":
                    view.add_plain(t["content"], t["role"])
                    continue
                evs = next((t["events"][k] for k in run_keys if t["events"].get(k)), None)
                if evs:
                    view.add_tokens(evs, self._value, self.color_vmax)
                else:
                    view.add_plain(t["default"] if view is self.default_view else t["content"], "user")

    def _views(self):
        return (self.main_view, self.default_view) if self.compare.isChecked() else (self.main_view,)

    def _emit_token(self, sig, run: str, idx: int) -> None:
        ev = self.events.get((run, idx))
        if ev is not None:
            sig.emit(ev)
