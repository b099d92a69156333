"""Tools → Explain features…: explain (and score) the loaded SAE's features with an OpenAI-compatible chat endpoint
(docs/EXPLANATIONS.md). The endpoint's URL and model are remembered, its key only when asked; the estimate of
calls shows before a run; a run has progress and Stop, keeps what is done, and the next run resumes."""

from __future__ import annotations

import os

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..app.controller import Controller
from ..app.explain_run import ExplainRequest, ExplainRun, FeatureChoice, choose_features
from ..app.runs import RunChange, RunStatus
from ..core.explanations.client import ENV_KEY, ENV_MODEL, ENV_URL, ChatSettings
from ..core.explanations.store import StoreError
from ..core.features.user_labels import sae_folder
from .lifetime import bind, own_run
from .run_progress import show_progress
from .settings import app_settings, get_bool

CHOICES = {FeatureChoice.ALL: "All features", FeatureChoice.RANGE: "These features:",
           FeatureChoice.PINNED: "The pinned features"}


class ExplainDialog(QDialog):
    def __init__(self, controller: Controller, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctl = controller
        self.run = ExplainRun(controller.jobs, controller.model)
        own_run(self, self.run)
        self.setWindowTitle("Explain features")
        s = self.settings = app_settings()
        self.url = QLineEdit(str(s.value("explain/url", "") or os.environ.get(ENV_URL, "")))
        self.url.setPlaceholderText("http://127.0.0.1:8080 (llama.cpp, Ollama, vLLM or a hosted API)")
        self.model = QLineEdit(str(s.value("explain/model", "") or os.environ.get(ENV_MODEL, "")))
        self.key = QLineEdit(str(s.value("explain/key", "") or os.environ.get(ENV_KEY, "")))
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("none for a local server")
        self.remember = QCheckBox("remember the key")
        self.remember.setChecked(get_bool(s, "explain/remember_key", False))
        self.choice = QComboBox()
        for c, text in CHOICES.items():
            self.choice.addItem(text, c)
        self.features = QLineEdit("0-99")
        self.explain, self.score = QCheckBox("explain"), QCheckBox("score the explanations (both blind scorers)")
        self.explain.setChecked(True)
        self.parallel = QSpinBox(minimum=1, maximum=64, value=4)
        self.windows = QSpinBox(minimum=32, maximum=65536, value=2048, singleStep=256)
        self.windows.setToolTip("Windows of 32 tokens of the built-in corpus to read the contexts from")
        form = QFormLayout()
        form.addRow("Endpoint URL", self.url)
        form.addRow("Model", self.model)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key, 1)
        key_row.addWidget(self.remember)
        form.addRow("API key", key_row)
        which = QHBoxLayout()
        which.addWidget(self.choice)
        which.addWidget(self.features, 1)
        form.addRow("Features", which)
        form.addRow("", self.explain)
        form.addRow("", self.score)
        form.addRow("Parallel calls", self.parallel)
        form.addRow("Context windows", self.windows)
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        self.run_btn, self.stop_btn = QPushButton("Run"), QPushButton("Stop")
        self.run_btn.clicked.connect(self.start)
        self.stop_btn.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("Explanations are written beside the SAE; a stopped run resumes where it stopped.")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_btn)
        buttons.addWidget(self.stop_btn)
        buttons.addWidget(self.progress, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.estimate)
        lay.addLayout(buttons)
        lay.addWidget(self.status)
        lay.addStretch(1)
        for w in (self.url, self.model, self.features):
            w.textChanged.connect(self.update_estimate)
        for b in (self.explain, self.score):
            b.toggled.connect(self.update_estimate)
        self.choice.currentIndexChanged.connect(self.update_estimate)
        self.resize(640, 420)
        bind(self.run.changed, self, self._on_run)
        self.update_estimate()

    # --- the request ---------------------------------------------------------------------------------------------
    def request(self) -> ExplainRequest:
        """What the form asks for; ``ValueError`` (written for the user) when it cannot run."""
        info = self.ctl.model.info
        folder = sae_folder(info.sae_path) if info is not None and info.sae is not None else None
        if info is None or folder is None:
            raise ValueError("open an SAE first (File > Open SAE…)")
        if not self.url.text().strip() or not self.model.text().strip():
            raise ValueError("give the endpoint's URL and model")
        if not (self.explain.isChecked() or self.score.isChecked()):
            raise ValueError("tick explain, score or both")
        features = choose_features(FeatureChoice(self.choice.currentData()), info.d_sae, self.features.text(),
                                   self.ctl.features.pinned)
        settings = ChatSettings(self.url.text().strip(), self.model.text().strip(), self.key.text(),
                                parallel=self.parallel.value())
        return ExplainRequest(settings, features, str(folder), self.explain.isChecked(), self.score.isChecked(),
                              self.windows.value())

    def update_estimate(self) -> None:
        self.features.setEnabled(self.choice.currentData() == FeatureChoice.RANGE)
        try:
            req = self.request()
            n = self.run.estimate(req)
        except (ValueError, StoreError) as e:
            self.estimate.setText(str(e)[0].upper() + str(e)[1:] + ".")
        else:
            self.estimate.setText(f"About {n} calls to {req.settings.endpoint} ({req.settings.model}); "
                                  f"files in {req.folder}.")
        self._enable()

    def _enable(self) -> None:
        running = self.run.running
        self.run_btn.setEnabled(not running)
        self.stop_btn.setEnabled(running)

    def _remember(self) -> None:
        s = self.settings
        s.setValue("explain/url", self.url.text().strip())
        s.setValue("explain/model", self.model.text().strip())
        s.setValue("explain/remember_key", self.remember.isChecked())
        if self.remember.isChecked():
            s.setValue("explain/key", self.key.text())
        else:
            s.remove("explain/key")

    # --- running -------------------------------------------------------------------------------------------------
    def start(self) -> int | None:
        if not self.ctl.model.ready:
            self.status.setText("The model is not loaded yet.")
            return None
        try:
            req = self.request()
        except (ValueError, StoreError) as e:
            self.status.setText(f"Cannot start: {e}")
            return None
        self._remember()
        self.progress.setValue(0)
        job = self.run.start(req)
        self.status.setText("Reading contexts…")
        self._enable()
        return job

    def stop(self) -> None:
        self.run.cancel()

    def _on_run(self, what: RunChange) -> None:
        if show_progress(what, self.run, self.progress, self.status):
            return
        out = self.run.outcome
        if self.run.status == RunStatus.DONE and out is not None:
            self.progress.setValue(100)
            self.status.setText(out.describe())
        elif self.run.status == RunStatus.FAILED:
            self.status.setText(f"Could not explain: {self.run.error}")
        elif self.run.status == RunStatus.CANCELLED:
            self.status.setText("Stopped; run again to resume. "
                                + (out.describe() if out is not None else "Nothing was explained."))
        elif self.run.status == RunStatus.CANCELLING:
            self.status.setText("Stopping after the calls in flight…")
        if not self.run.running:
            self.update_estimate()
        self._enable()

    def done(self, r: int) -> None:
        self.stop()
        super().done(r)
