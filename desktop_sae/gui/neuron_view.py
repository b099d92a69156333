"""Black boxes and polysemantic neurons: one MLP neuron's top-activating contexts (left), which come from unrelated
topics, beside the SAE features that fire on the same tokens (right), each with its own, coherent, contexts.

Curated neurons are precomputed (``resources/neurons/neuron_view.json``) and open instantly; any other neuron of
the layer is computed by a controller job over the shipped texts (progress, Cancel). The layer's activations are
kept after the first job, so the next neuron costs only the SAE encoding of its peaks.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..app.controller import Controller
from ..app.neuron_run import NeuronRun
from ..app.runs import RunChange, RunStatus
from ..core.classroom import neuron_data as nd
from .lifetime import bind, own_run
from .neuron_html import contexts_html, features_html
from .theme import is_dark


class NeuronView(QWidget):
    """``NeuronView(controller, data_folder=None)``; ``featureClicked(int)`` when a feature of the loaded SAE is
    clicked. A lesson calls ``show_curated(index)`` or ``show_neuron(n)``."""

    featureClicked = Signal(int)

    def __init__(self, controller: Controller, data_folder: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self.run = NeuronRun(controller.jobs)
        own_run(self, self.run)
        self.folder = nd.neurons_folder(data_folder)
        self.data: dict | None = None
        self.shown: dict | None = None  # what the panes show: a curated entry or a computed one, same keys
        self._clickable = False
        self._texts: tuple[Sequence[str], Sequence[str]] | None = None
        error = ""
        try:
            self.data = nd.load_view(self.folder)
        except (OSError, ValueError) as e:
            error = f"The curated neurons could not be read: {e}"
        self._build()
        bind(self.run.changed, self, self._on_run)
        self.status.setText(error)
        if self.data:
            self.show_curated(0)

    # --- layout ---------------------------------------------------------------------------------------------
    def _build(self) -> None:
        curated = (self.data or {}).get("curated", [])
        self.picker = QComboBox()
        for c in curated:
            self.picker.addItem(f"#{c['neuron']} · {c['description']}")
        self.picker.setPlaceholderText("(a neuron chosen by number)")
        self.picker.setToolTip("Neurons chosen because their strongest contexts come from unrelated topics")
        self.picker.activated.connect(self.show_curated)
        self.spin = QSpinBox()
        self.spin.setRange(0, max(0, int((self.data or {}).get("n_neurons", 1536)) - 1))
        self.spin.setToolTip("Any neuron of the layer, computed now over the shipped texts")
        self.compute_btn = QPushButton("Show neuron")
        self.compute_btn.clicked.connect(lambda: self.show_neuron(self.spin.value()))
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.progress.setMaximumWidth(160)
        row = QHBoxLayout()
        row.addWidget(QLabel("Curated neuron:"))
        row.addWidget(self.picker, 1)
        row.addSpacing(12)
        row.addWidget(QLabel("or neuron #"))
        row.addWidget(self.spin)
        row.addWidget(self.compute_btn)
        row.addWidget(self.progress)
        row.addWidget(self.cancel_btn)
        self.header = QLabel("")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.contexts = QTextBrowser()
        self.contexts.setToolTip("Where this neuron fires most (one context per text); darker orange = stronger")
        self.features = QTextBrowser()
        self.features.setOpenLinks(False)
        self.features.anchorClicked.connect(self._on_anchor)
        self.features.setToolTip("SAE features active on the same peak tokens, each with its own top contexts")
        split = QSplitter(Qt.Orientation.Horizontal)
        for title, view in (
            ("The neuron's top contexts", self.contexts),
            ("SAE features on the same tokens", self.features),
        ):
            pane = QWidget()
            lay = QVBoxLayout(pane)
            lay.setContentsMargins(0, 0, 0, 0)
            lab = QLabel(f"<b>{title}</b>")
            lay.addWidget(lab)
            lay.addWidget(view, 1)
            split.addWidget(pane)
        split.setSizes([1, 1])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(row)
        lay.addWidget(self.header)
        lay.addWidget(split, 1)
        lay.addWidget(self.status)

    # --- public actions -------------------------------------------------------------------------------------
    def show_curated(self, index: int) -> None:
        """Show the ``index``-th curated neuron from the shipped data (no computation)."""
        d = self.data or {}
        curated = d.get("curated", [])
        if not 0 <= index < len(curated):
            return
        self.picker.setCurrentIndex(index)
        c = curated[index]
        self.spin.setValue(int(c["neuron"]))
        sae = d["sae"]
        info = self.controller.model.info
        ident = getattr(info, "identity", None)
        self._clickable = bool(
            ident is not None
            and sae.get("fingerprint")
            and ident.fingerprint == sae["fingerprint"]
            and ident.d_sae == sae.get("d_sae")
        )
        source = (
            f"Precomputed on {d['model']['name']}, layer {d['layer']}, with the bundled SAE at {sae['hook']} "
            f"over {d['texts']['count']} short texts in {d['texts']['topics']} topics."
        )
        if not self._clickable:
            source += " Load the bundled model and SAE to open these features' dashboards."
        else:  # the loaded SAE is the one the data was made with: its features go by their names in the app
            c = dict(c, features=[self._named(f) for f in c["features"]])
        self._show(dict(c, layer=d["layer"]), source)
        self.status.setText("")

    def _named(self, feature: dict) -> dict:
        """A feature's entry with the loaded SAE's name for it (user label, explanation or token label)."""
        return dict(feature, label=self.controller.model.label(int(feature["feature"])) or feature.get("label"))

    def show_neuron(self, n: int) -> int | None:
        """Compute neuron ``n`` of the layer on the loaded model (a run); returns the job id."""
        curated = (self.data or {}).get("curated", [])
        for i, c in enumerate(curated):  # the shipped result, when it was made with the loaded model and SAE
            if c["neuron"] == n and self._same_model_and_sae():
                self.show_curated(i)
                return None
        try:
            if self._texts is None:
                self._texts = nd.load_texts(self.folder)
        except OSError as e:
            self.status.setText(f"The text set could not be read: {e}")
            return None
        texts, topics = self._texts
        layer = (self.data or {}).get("layer")
        job = self.run.start(int(n), layer, texts, topics)
        self._busy(True, f"Computing neuron {n}…")
        return job

    @property
    def busy(self) -> bool:
        """A neuron is being computed for this view."""
        return self.run.running

    def cancel(self) -> None:
        self.run.cancel()

    # --- the run -> the panes -------------------------------------------------------------------------------
    def _on_run(self, what: RunChange) -> None:
        run = self.run
        if what == RunChange.PROGRESS:
            self.progress.setValue(int(100 * (run.fraction or 0)))
            self.status.setText(run.message)
        elif run.status == RunStatus.DONE:
            self._on_done()
        elif run.status == RunStatus.FAILED:
            self._busy(False, f"Could not compute the neuron: {run.error}")
        elif run.status == RunStatus.CANCELLED:
            self._busy(False, "Cancelled.")

    def _on_done(self) -> None:
        r = self.run.report
        if r is None or self._texts is None:
            return
        self._busy(False, "")
        cat = self.controller.model.catalog
        ctx = [nd.context_dict(c) for c in r.contexts]
        feats = []
        for h in r.features:
            entry = cat.entry(h.feature) if cat is not None else None
            feats.append(self._named(nd.feature_dict(h, entry)))
        shown = {
            "neuron": r.neuron,
            "layer": r.layer,
            "description": nd.describe_topics([c["topic"] for c in ctx]),
            "polysemanticity": len({c["topic"] for c in ctx}),
            "peak_tokens": nd.peak_summary(ctx),
            "note": "",
            "contexts": ctx,
            "features": feats,
        }
        self._clickable = True
        self.picker.setCurrentIndex(-1)
        self.spin.setValue(r.neuron)
        self._show(
            shown,
            f"Computed just now on {r.model}, layer {r.layer}, over the {len(self._texts[0])} "
            "shipped texts, with the loaded SAE.",
        )

    # --- rendering ------------------------------------------------------------------------------------------
    def _same_model_and_sae(self) -> bool:
        info, d = self.controller.model.info, self.data or {}
        ident = getattr(info, "identity", None)
        name = info.model.name if info is not None else None
        return bool(
            ident is not None and d and name == d["model"]["name"] and ident.fingerprint == d["sae"].get("fingerprint")
        )

    def _busy(self, busy: bool, text: str) -> None:
        self.progress.setVisible(busy)
        self.progress.setValue(0)
        self.cancel_btn.setEnabled(busy)
        self.status.setText(text)

    def _show(self, c: dict, source: str) -> None:
        self.shown = c
        n_ctx, poly = len(c["contexts"]), c.get("polysemanticity", 0)
        lines = [
            f"<b>Layer {c['layer']}, neuron #{c['neuron']}</b> — {html.escape(c['description'])}. "
            f"Its top {n_ctx} contexts come from <b>{poly}</b> different topic{'s' if poly != 1 else ''}."
        ]
        if c.get("peak_tokens"):
            lines.append(f"It {html.escape(c['peak_tokens'])}.")
        shared = [f for f in c["features"] if f["count"] >= 2]
        if shared:
            pure = sum(1 for f in shared if len({c["contexts"][i]["topic"] for i in f["contexts"]}) == 1)
            lines.append(
                f"The SAE splits it: {len(shared)} feature{'s' if len(shared) != 1 else ''} fire on two or more of "
                f"these contexts, <b>{pure}</b> of them within a single topic."
            )
        if c.get("note"):
            lines.append(f"<i>{html.escape(c['note'])}</i>")
        lines.append(f"<small>{html.escape(source)}</small>")
        self.header.setText("<br>".join(lines))
        dark = is_dark(self.palette())
        self.contexts.setHtml(contexts_html(c["contexts"], dark))
        self.features.setHtml(features_html(c["features"], c["contexts"], dark, self._clickable))

    def _on_anchor(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("feature:") and self._clickable:
            self.featureClicked.emit(int(text.split(":", 1)[1]))
