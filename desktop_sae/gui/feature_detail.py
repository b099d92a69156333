"""The feature dashboard: the name (the user's label, editable, else the explanation, else the top tokens) with
where it comes from, the explanation's provenance and blind scores, the demo-set tag, statistics, top/bottom logits,
top activating contexts with the tokens highlighted, and the activation histogram. Degrades to id + statistics
(+ logits computed by the worker) when the SAE ships without a feature dictionary."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..app.feature_about import about_html, marked_name
from .plot_export import copy_button
from .theme import is_dark, plot_colors


class FeatureDetail(QWidget):
    labelChanged = Signal(int, str)
    steerRequested = Signal(int)
    pinRequested = Signal(int)
    sweepRequested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cat = None
        self.explained = None  # core.explanations.shown.ShownExplanations: provenance and blind scores
        self.feature: int | None = None
        self._has_dict_logits = False
        self.title = QLabel("Select a feature")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)  # long labels wrap instead of widening the dock
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.2)
        f.setBold(True)
        self.title.setFont(f)
        self.about = QLabel("")  # where the name comes from, the explanation's provenance and scores, the tag
        self.about.setWordWrap(True)
        self.about.setTextFormat(Qt.TextFormat.RichText)
        self.about.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.about.setToolTip("Blind scores: how well a scorer model, given only the explanation, told held-out "
                              "texts where the feature fires from texts where it does not (balanced accuracy, 0.5 = "
                              "chance, with a 95 % interval); see docs/EXPLANATIONS.md")
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("Your label for this feature (saved beside the SAE)")
        self.label_edit.setToolTip("Edit and press Enter: labels are saved beside the SAE (or in your data folder)")
        self.label_edit.returnPressed.connect(self._save_label)
        self.steer_btn = QPushButton("Steer")
        self.steer_btn.setToolTip("Add this feature to the steering panel")
        self.steer_btn.clicked.connect(lambda: self.feature is not None and self.steerRequested.emit(self.feature))
        self.sweep_btn = QPushButton("Sweep…")
        self.sweep_btn.setToolTip("Sweep strength: plot concept, fluency and KL over a range of strengths")
        self.sweep_btn.clicked.connect(lambda: self.feature is not None and self.sweepRequested.emit(self.feature))
        self.pin_btn = QPushButton("Pin")
        self.pin_btn.setToolTip("Plot this feature live")
        self.pin_btn.clicked.connect(lambda: self.feature is not None and self.pinRequested.emit(self.feature))
        self.stats = QLabel("")
        self.stats.setWordWrap(True)
        self.logits = QLabel("")
        self.logits.setWordWrap(True)
        self.logits.setTextFormat(Qt.TextFormat.RichText)
        self.logits.setToolTip("Tokens whose logits this feature's decoder direction raises (top) and lowers (bottom)")
        self.contexts = QTextBrowser()
        self.contexts.setToolTip("Text where this feature fired most strongly; darker = stronger")
        bg, _ = plot_colors()
        self.hist = pg.PlotWidget(background=bg)
        self.hist.setMouseEnabled(x=False, y=False)
        self.hist.setLabel("bottom", "activation")
        self.hist.setLabel("left", "count")
        self.hist.setMaximumHeight(160)
        self.hist_bars = pg.BarGraphItem(x=[], height=[], width=1.0, brush="#1f77b4")
        self.hist.addItem(self.hist_bars)
        row = QHBoxLayout()
        row.addWidget(self.label_edit, 1)
        row.addWidget(self.pin_btn)
        row.addWidget(self.steer_btn)
        row.addWidget(self.sweep_btn)
        self.copy_btn = copy_button(self)
        row.addWidget(self.copy_btn)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.contexts)
        split.addWidget(self.hist)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addWidget(self.about)
        lay.addLayout(row)
        lay.addWidget(self.stats)
        lay.addWidget(self.logits)
        lay.addWidget(split, 1)

    def set_catalog(self, cat, explained=None) -> None:
        self.cat, self.explained = cat, explained
        self.feature = None
        self.title.setText("Select a feature")
        self.about.setText("")
        self.contexts.clear()

    def show_feature(self, f: int) -> None:
        cat = self.cat
        if cat is None or not 0 <= f < cat.d_sae:
            return
        self.feature = f
        self.title.setText(f"Feature #{f}  {marked_name(cat, f)}")
        self.label_edit.setText(cat.user_labels.get(f, cat.label(f)))
        self.label_edit.setCursorPosition(0)  # a long name shows its start
        self.about.setText(about_html(cat, self.explained, f))
        parts = []
        for name, arr, fmt in (
            ("max activation", cat.max_activation, "{:.3g}"),
            ("mean when active", cat.mean_activation, "{:.3g}"),
            ("density", cat.density, "{:.3%}"),
        ):
            v = arr[f]
            if np.isfinite(v):
                parts.append(f"{name} {fmt.format(float(v))}")
        if cat.conv_max[f] > 0:
            parts.append(f"max in this chat {cat.conv_max[f]:.3g}")
        self.stats.setText(" · ".join(parts) or "No statistics ship with this SAE.")
        entry = cat.entry(f)  # core.training.dictionary_builder's entry format, or None without a dictionary
        self._show_logits((entry or {}).get("top_logits"), (entry or {}).get("bottom_logits"))
        self._show_contexts(entry)
        self._show_hist((entry or {}).get("histogram"))

    def set_logits(self, fl) -> None:
        """Logits computed by the worker (used when the dictionary has none)."""
        if fl.feature == self.feature and not self._has_dict_logits:
            self._show_logits(fl.top, fl.bottom, computed=True)

    def _show_logits(self, top, bottom, computed: bool = False) -> None:
        self._has_dict_logits = bool(top) and not computed

        def fmt(items, color):
            out = []
            for tok, val in list(items or [])[:10]:
                out.append(f"<span style='color:{color}'>{html.escape(repr(str(tok))[1:-1])}</span> {float(val):+.2f}")
            return ", ".join(out)

        if not top and not bottom:
            self.logits.setText("<i>logits: computing…</i>" if not computed else "")
            return
        g, r = ("#6fcf6f", "#ff7a7a") if is_dark(self.palette()) else ("#1a7f1a", "#b22222")
        self.logits.setText(f"<b>promotes</b> {fmt(top, g)}<br><b>suppresses</b> {fmt(bottom, r)}")

    def _show_contexts(self, entry) -> None:
        ctxs = (entry or {}).get("top_examples")
        if not ctxs:
            msg = (
                (
                    "No feature dictionary ships with this SAE: only its statistics and logits are shown. "
                    "Hover tokens in the chat to see where it fires."
                )
                if entry is None
                else "No contexts recorded."
            )
            self.contexts.setHtml(f"<p><i>{html.escape(msg)}</i></p>")
            return
        dark = is_dark(self.palette())
        vmax = max((float(np.max(c.get("values") or [0])) for c in ctxs[:20]), default=1.0) or 1.0
        rows = []
        for c in ctxs[:20]:
            toks, vals = c.get("tokens", []), c.get("values", [])
            spans = []
            for t, v in zip(toks, vals):
                a = max(0.0, min(1.0, float(v) / vmax))
                bg = f"rgba(255,140,0,{0.15 + 0.75 * a:.2f})" if v > 0 else "transparent"
                spans.append(f"<span style='background:{bg}' title='{float(v):.2f}'>{html.escape(str(t))}</span>")
            rows.append(
                f"<p style='margin:2px'>{''.join(spans)} <small>(max {float(max(vals, default=0)):.2f})</small></p>"
            )
        color = "#ddd" if dark else "#222"
        self.contexts.setHtml(f"<div style='color:{color}'>{''.join(rows)}</div>")

    def _show_hist(self, h) -> None:
        """``h``: {"counts": [...], "range": [lo, hi]} (equal-width bins over the range)."""
        counts, lo_hi = (h or {}).get("counts"), (h or {}).get("range")
        edges = None if not counts or not lo_hi else np.linspace(float(lo_hi[0]), float(lo_hi[1]), len(counts) + 1)
        if edges is None:
            self.hist_bars.setOpts(x=[], height=[])
            self.hist.setVisible(False)
            return
        edges = np.asarray(edges, float)
        self.hist.setVisible(True)
        self.hist_bars.setOpts(
            x=(edges[:-1] + edges[1:]) / 2, height=np.asarray(counts, float), width=float(np.diff(edges).mean())
        )

    def _save_label(self) -> None:
        if self.feature is not None:
            self.labelChanged.emit(self.feature, self.label_edit.text())
