"""The download row of the Model & SAE manager: what to fetch (a model by hub id, an SAE from a release of the
SAE directory, or an SAE by repo + path), a progress bar and Cancel. The download runs as a job on the job runner
through the controller; this widget only starts it, shows its progress and cancels it."""

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
)

from ..app.asset_tasks import DownloadRequest, download_job
from ..core.support.errors import DesktopSAEError
from ..core.support.hf_cache import display_name

KINDS = (
    ("model", "Model (hub id)", "e.g. openai-community/gpt2 or HuggingFaceTB/SmolLM2-135M-Instruct"),
    ("release", "SAE from a release", "release/SAE id, e.g. gpt2-small-res-jb/blocks.8.hook_resid_pre"),
    ("repo", "SAE by repo + path", "hub repo id, e.g. EleutherAI/sae-SmolLM2-135M-64x"),
)


class DownloadPanel(QGroupBox):
    """Emits ``finished(results)`` (a tuple of core DownloadResult) when a download completes."""

    finished = Signal(object)

    def __init__(self, controller, directory_file: str | None = None, parent=None):
        super().__init__("Download from the Hugging Face hub", parent)
        self.controller = controller
        self.directory_file = directory_file
        self.job_id: int | None = None
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
        if self._directory_error:
            self._show(f"The SAE directory could not be read: {self._directory_error}", error=True)

    def _release_ids(self) -> list[str]:
        from ..core.assets.sae_directory import load_directory

        try:
            return [f"{name}/{s.id}" for name, rel in sorted(load_directory(self.directory_file).items())
                    for s in rel.saes]
        except DesktopSAEError as e:
            self._directory_error = str(e)
            return []

    def _kind_changed(self) -> None:
        key = self.kind.currentData()
        self.id_edit.setPlaceholderText(next(h for k, _t, h in KINDS if k == key))
        self.path_edit.setVisible(key == "repo")
        self.id_edit.setCompleter(self._release_completer if key == "release" else None)

    @property
    def running(self) -> bool:
        return self.job_id is not None

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
        self.job_id = self.controller.run_job(
            "download", download_job(req, self.directory_file), on_progress=self._progress, on_done=self._done,
            on_failed=self._failed, on_cancelled=self._cancelled)
        return self.job_id

    def cancel(self) -> None:
        if self.job_id is not None:
            self.controller.cancel_job(self.job_id)
            self._show("Cancelling…")

    def _busy(self, busy: bool) -> None:
        for w in (self.kind, self.id_edit, self.path_edit, self.start_btn):
            w.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)

    def _show(self, text: str, error: bool = False) -> None:
        self.msg.setStyleSheet("color: #d33" if error else "")
        self.msg.setText(text)

    def _progress(self, msg) -> None:
        if msg.fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * msg.fraction))
        self._show(msg.message)

    def _end(self, text: str, error: bool = False, value: int = 0) -> None:
        self.job_id = None
        self._busy(False)
        self.bar.setRange(0, 1000)
        self.bar.setValue(value)
        self._show(text, error)

    def _done(self, msg) -> None:
        results = msg.result or ()
        got = sum(r.downloaded_bytes for r in results)
        where = "; ".join(display_name(r.path) for r in results)
        self._end(f"Done: {where} ({got / 1e6:.1f} MB downloaded)" if got else f"Already in the cache: {where}",
                  value=1000)
        self.finished.emit(results)

    def _failed(self, msg) -> None:
        self._end(f"Download failed: {msg.message}", error=True)

    def _cancelled(self, _msg) -> None:
        self._end("Download cancelled; nothing unfinished was kept")
