"""The sampling controls above the chat: temperature, top-p, frequency penalty, seed and max tokens."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from ..app.conversation import Conversation
from ..core.engine.sampling import SamplingConfig
from .lifetime import bind


class SamplingBar(QWidget):
    """Temperature, top-p, frequency penalty, seed and max tokens: edits go to the conversation, and its sampling
    (set by a preset, a lesson) shows here."""

    def __init__(self, conversation: Conversation, parent: QWidget | None = None):
        super().__init__(parent)
        self.conv = conversation
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
        self.show_config(conversation.sampling)
        bind(conversation.sampling_changed, self, self.show_config)

    def _edited(self, *_) -> None:
        seed = self.seed.value()
        cfg = replace(
            self.conv.sampling,
            temperature=round(self.temperature.value(), 4),
            top_p=round(self.top_p.value(), 4),
            frequency_penalty=round(self.freq.value(), 4),
            seed=None if seed < 0 else seed,
            max_new_tokens=self.max_tokens.value(),
        )
        self.conv.set_sampling(cfg)

    def show_config(self, c: SamplingConfig) -> None:
        for w, v in (
            (self.temperature, c.temperature),
            (self.top_p, c.top_p),
            (self.freq, c.frequency_penalty),
            (self.seed, -1 if c.seed is None else min(int(c.seed), 2**31 - 1)),
            (self.max_tokens, max(1, c.max_new_tokens)),
        ):
            w.blockSignals(True)
            if isinstance(w, QSpinBox):
                w.setValue(int(v))
            else:
                w.setValue(v)
            w.blockSignals(False)
