"""The Neuronpedia row of the Model & SAE manager: for the selected SAE, its Neuronpedia id (from its config or its
SAE directory entry), **Fetch from Neuronpedia**, **Import a file…** (Neuronpedia's explanation export, for when
offline), a progress bar and Cancel. The work is a run (``app.neuronpedia_explanations_run``); this widget starts
it, shows its progress and cancels it."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..app.job_handles import Jobs
from ..app.model_slot import ModelSlot
from ..app.neuronpedia_explanations_run import ExplanationsRequest, NeuronpediaExplanationsRun
from ..app.runs import RunChange, RunStatus
from ..core.assets.entries import Asset
from ..core.assets.sae_directory import Release
from ..core.assets.sae_neuronpedia import NeuronpediaTarget, neuronpedia_target
from ..core.support.errors import DesktopSAEError
from .lifetime import bind, own_run
from .run_progress import show_message, show_progress


class ExplanationsPanel(QGroupBox):
    def __init__(self, jobs: Jobs, model: ModelSlot, releases: dict[str, Release] | None,
                 parent: QWidget | None = None):
        super().__init__("Neuronpedia explanations of the selected SAE", parent)
        self.run = NeuronpediaExplanationsRun(jobs, model)
        own_run(self, self.run)
        self.releases = releases
        self.target: NeuronpediaTarget | None = None
        self.about = QLabel("")
        self.fetch_btn = QPushButton("Fetch from Neuronpedia")
        self.fetch_btn.setToolTip("Download the explanations Neuronpedia exports for this SAE and store them beside "
                                  "it (explanations.json); explanations already there are kept")
        self.import_btn = QPushButton("Import a file…")
        self.import_btn.setToolTip("Read a Neuronpedia explanations export (.json, .jsonl, optionally .gz)")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.msg = QLabel("")
        self.msg.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.about, 1)
        for b in (self.fetch_btn, self.import_btn, self.cancel_btn):
            row.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.bar)
        lay.addWidget(self.msg)
        self.fetch_btn.clicked.connect(lambda: self.start())
        self.import_btn.clicked.connect(self._choose_file)
        self.cancel_btn.clicked.connect(self.cancel)
        bind(self.run.changed, self, self._on_run)
        self.set_sae(None)

    def set_sae(self, asset: Asset | None) -> None:
        """Show what can be fetched for ``asset`` (an SAE of the manager's list, or None)."""
        if self.run.running:
            return
        self.target = None
        if asset is not None:  # one whose format this version cannot read may still have its explanations fetched
            try:
                self.target = neuronpedia_target(asset.path, self.releases)
            except DesktopSAEError:
                self.target = None
        t = self.target
        if t is not None and t.neuronpedia_id and t.d_sae:
            self.about.setText(f"Neuronpedia id <b>{t.neuronpedia_id}</b> ({t.d_sae} features)")
        elif asset is None:
            self.about.setText("<i>Select an SAE above.</i>")
        else:
            self.about.setText("<i>This SAE has no Neuronpedia id (in its config or the SAE directory).</i>")
        ok = t is not None and bool(t.neuronpedia_id and t.d_sae)
        self.fetch_btn.setEnabled(ok)
        self.import_btn.setEnabled(ok)

    def request(self, file: str | None = None) -> ExplanationsRequest | None:
        t = self.target
        if t is None or not t.neuronpedia_id or not t.d_sae:
            return None
        return ExplanationsRequest(t.folder, t.neuronpedia_id, t.d_sae, file=file)

    def start(self, file: str | None = None) -> int | None:
        """Fetch (or, with ``file``, import) the selected SAE's explanations; returns the job id."""
        req = self.request(file)
        if req is None or self.run.running:
            return None
        try:
            job = self.run.start(req)
        except DesktopSAEError as e:
            self._show(str(e), error=True)
            return None
        self._busy(True)
        self.bar.setRange(0, 0)
        self._show("Reading the file…" if file else "Asking Neuronpedia…")
        return job

    def cancel(self) -> None:
        if self.run.running:
            self.run.cancel()
            self._show("Cancelling…")

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import Neuronpedia explanations", "",
                                              "Neuronpedia explanations (*.json *.jsonl *.gz);;All files (*)")
        if path:
            self.start(path)

    def _busy(self, busy: bool) -> None:
        self.fetch_btn.setEnabled(not busy)
        self.import_btn.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)

    def _show(self, text: str, error: bool = False) -> None:
        show_message(self.msg, text, error)

    def _on_run(self, what: RunChange) -> None:
        run = self.run
        if show_progress(what, run, self.bar, self.msg, indeterminate=True):
            return
        if run.running:
            return
        self._busy(False)
        self.bar.setRange(0, 1000)
        if run.status == RunStatus.DONE and run.result is not None:
            r = run.result
            self.bar.setValue(1000)
            self._show(f"{r.added} explanations added ({r.found} read, {r.stored} stored in {r.path}) from {r.origin}")
        elif run.status == RunStatus.FAILED:
            self.bar.setValue(0)
            self._show(f"Not fetched: {run.error}", error=True)
        elif run.status == RunStatus.CANCELLED:
            self.bar.setValue(0)
            self._show("Cancelled; nothing was written")
