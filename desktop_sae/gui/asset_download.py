"""The download row of the Model & SAE manager: what to fetch (a model by hub id, an SAE from a release of the
SAE directory, or an SAE by repo + path), a progress bar and Cancel. The download is a run (``app.download_run``);
this widget only starts it, shows its progress and cancels it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..app.download_run import DownloadRequest, DownloadRun
from ..app.job_handles import Jobs
from ..app.runs import RunChange, RunStatus
from ..core.assets.sae_directory import Release
from ..core.support.errors import DesktopSAEError
from ..core.support.hf_cache import display_name
from .lifetime import bind, own_run
from .run_progress import show_message, show_progress

KINDS = (
    ("model", "Model (hub id)", "e.g. openai-community/gpt2 or HuggingFaceTB/SmolLM2-135M-Instruct"),
    ("release", "SAE from a release", "release/SAE id, e.g. gpt2-small-res-jb/blocks.8.hook_resid_pre"),
    ("repo", "SAE by repo + path", "hub repo id, e.g. EleutherAI/sae-SmolLM2-135M-64x"),
)


class DownloadPanel(QGroupBox):
    """Emits ``finished(results)`` (a tuple of core DownloadResult) when a download completes."""

    finished = Signal(object)

    def __init__(self, jobs: Jobs, directory_file: str | None = None, parent: QWidget | None = None,
                 releases: dict[str, Release] | None = None):
        super().__init__("Download from the Hugging Face hub", parent)
        self._releases = releases  # the directory already read by the manager (else read here)
        self.run = DownloadRun(jobs, directory_file)
        own_run(self, self.run)
        self.directory_file = directory_file
        self._directory_error = ""
        self.kind = QComboBox()
        for key, text, _hint in KINDS:
            self.kind.addItem(text, key)
        self.id_edit = QLineEdit()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("path in the repo, e.g. layers.15.mlp")
        self.start_btn = QPushButton("Download")
        self.start_btn.setToolTip("Download into the Hugging Face cache (~/.cache/huggingface); it then appears in "
                                  "the lists above as 'cached'")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setTextVisible(False)
        self.msg = QLabel("")
        self.msg.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.kind)
        row.addWidget(self.id_edit, 3)
        row.addWidget(self.path_edit, 2)
        row.addWidget(self.start_btn)
        row.addWidget(self.cancel_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.bar)
        lay.addWidget(self.msg)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.id_edit.returnPressed.connect(self.start)
        self.start_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.cancel)
        self._release_completer = QCompleter(self._release_ids(), self)
        self._release_completer.setFilterMode(self._release_completer.filterMode().MatchContains)
        self._kind_changed()
        bind(self.run.changed, self, self._on_run)
        if self._directory_error:
            self._show(f"The SAE directory could not be read: {self._directory_error}", error=True)

    def _release_ids(self) -> list[str]:
        from ..core.assets.sae_directory import load_directory

        try:
            releases = self._releases if self._releases is not None else load_directory(self.directory_file)
        except DesktopSAEError as e:
            self._directory_error = str(e)
            return []
        return [f"{name}/{s.id}" for name, rel in sorted(releases.items()) for s in rel.saes]

    def use_release(self, ref: str) -> None:
        """Put ``release/sae_id`` in the row, ready to download."""
        self.kind.setCurrentIndex(next(i for i, (k, _t, _h) in enumerate(KINDS) if k == "release"))
        self.id_edit.setText(ref)
        self._show(f"Press Download to fetch {ref}")
        self.start_btn.setFocus()

    def _kind_changed(self) -> None:
        key = self.kind.currentData()
        self.id_edit.setPlaceholderText(next(h for k, _t, h in KINDS if k == key))
        self.path_edit.setVisible(key == "repo")
        # None removes the completer (Qt takes nullptr); the PySide6 stubs only allow a QCompleter
        self.id_edit.setCompleter(self._release_completer if key == "release" else None)  # type: ignore[arg-type]

    @property
    def running(self) -> bool:
        return self.run.running

    def request(self) -> DownloadRequest:
        key, text = self.kind.currentData(), self.id_edit.text().strip()
        if key == "model":
            return DownloadRequest(model=text)
        if key == "release":
            return DownloadRequest(sae=text)
        return DownloadRequest(sae_repo=text, sae_path=self.path_edit.text().strip())

    def start(self) -> int | None:
        """Start the download job; returns its id (None when the fields are incomplete or one is running)."""
        if self.running:
            return None
        req = self.request()
        try:
            req.steps()
            if req.sae_repo is not None and not req.sae_path:
                raise DesktopSAEError("give the SAE's path inside the repo")
        except DesktopSAEError as e:
            self._show(str(e), error=True)
            return None
        self._busy(True)
        self._show("Starting…")
        self.bar.setRange(0, 0)
        return self.run.start(req)

    def cancel(self) -> None:
        if self.running:
            self.run.cancel()
            self._show("Cancelling…")

    def _busy(self, busy: bool) -> None:
        for w in (self.kind, self.id_edit, self.path_edit, self.start_btn):
            w.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)

    def _show(self, text: str, error: bool = False) -> None:
        show_message(self.msg, text, error)

    def _on_run(self, what: RunChange) -> None:
        run = self.run
        if show_progress(what, run, self.bar, self.msg, indeterminate=True):
            return
        if run.status == RunStatus.DONE:
            self._done(run.result or ())
        elif run.status == RunStatus.FAILED:
            self._end(f"Download failed: {run.error}", error=True)
        elif run.status == RunStatus.CANCELLED:
            self._end("Download cancelled; nothing unfinished was kept")

    def _end(self, text: str, error: bool = False, value: int = 0) -> None:
        self._busy(False)
        self.bar.setRange(0, 1000)
        self.bar.setValue(value)
        self._show(text, error)

    def _done(self, results: tuple) -> None:
        got = sum(r.downloaded_bytes for r in results)
        where = "; ".join(display_name(r.path) for r in results)
        self._end(f"Done: {where} ({got / 1e6:.1f} MB downloaded)" if got else f"Already in the cache: {where}",
                  value=1000)
        self.finished.emit(results)
