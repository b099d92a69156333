"""Tools → Evaluate steering…: the whole steering evaluation for a demo concept (strength chosen on the selection
prompts, reported on the others, against default, prompting and the mean-difference vector), run as a job with
progress and Stop; the report and selection rows in tables, and the result saved as JSON."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..app.controller import Controller
from ..app.eval_run import EvalRequest, EvalRun
from ..app.runs import RunChange, RunStatus, describe_status
from .lifetime import bind, own_run
from .run_progress import show_progress

COLUMNS = ("", "on concept", "NLL", "fluent", "concept", "fluency", "relevance", "combined")
KEYS = ("keyword_share", "nll_mean", "fluent_share", "concept", "fluency", "relevance", "combined")


def _cell(v: object) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.2f}"


class EvalDialog(QDialog):
    def __init__(self, controller: Controller, parent: QWidget | None = None):
        super().__init__(parent)
        from ..core.presets.demo_concepts import load_demo_concepts

        self.ctl = controller
        self.run = EvalRun(controller.jobs)
        own_run(self, self.run)
        self.setWindowTitle("Evaluate steering")
        demo = load_demo_concepts() or {}
        self.concept = QComboBox()
        for c in demo.values():
            self.concept.addItem(c.title, c)
        self.concept.currentIndexChanged.connect(self._default_strengths)
        self.strengths = QLineEdit()
        self.strengths.setToolTip("× the lead feature's max activation, comma-separated; the best is chosen on the "
                                  "selection prompts")
        self.n_prompts = QSpinBox(minimum=2, maximum=22, value=4)
        self.seeds = QSpinBox(minimum=1, maximum=10, value=1)
        self.tokens = QSpinBox(minimum=4, maximum=256, value=32)
        self.baselines = QCheckBox("prompting and mean-difference baselines")
        self.baselines.setChecked(True)
        form = QFormLayout()
        form.addRow("Concept", self.concept)
        form.addRow("Strengths", self.strengths)
        form.addRow("Prompts per split", self.n_prompts)
        form.addRow("Seeds", self.seeds)
        form.addRow("New tokens", self.tokens)
        form.addRow("", self.baselines)
        self.run_btn, self.stop_btn, self.save_btn = QPushButton("Run"), QPushButton("Stop"), QPushButton("Save JSON…")
        self.run_btn.clicked.connect(self.start)
        self.stop_btn.clicked.connect(self.stop)
        self.save_btn.clicked.connect(self.save_dialog)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("Strength is chosen on the selection prompts and reported on the report prompts.")
        self.status.setWordWrap(True)
        self.report, self.selection = QTableWidget(0, len(COLUMNS)), QTableWidget(0, len(COLUMNS))
        for t in (self.report, self.selection):
            t.setHorizontalHeaderLabels(COLUMNS)
            t.verticalHeader().hide()
            t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        buttons = QHBoxLayout()
        for b in (self.run_btn, self.stop_btn, self.save_btn):
            buttons.addWidget(b)
        buttons.addWidget(self.progress, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.status)
        lay.addWidget(QLabel("<b>Report prompts</b> (the chosen strength, the baselines, the default answers)"))
        lay.addWidget(self.report, 1)
        lay.addWidget(QLabel("<b>Selection prompts</b> (every strength; the best combined score is chosen)"))
        lay.addWidget(self.selection, 1)
        self._default_strengths()
        self._enable()
        self.resize(820, 620)
        bind(self.run.changed, self, self._on_run)

    @property
    def evaluation(self) -> dict | None:
        return self.run.result

    def _default_strengths(self) -> None:
        c = self.concept.currentData()
        if c is None:
            return
        s = c.strength
        self.strengths.setText(", ".join(f"{v:.2g}" for v in (0.5 * s, s, 2 * s)))

    def _enable(self) -> None:
        running = self.run.running
        self.run_btn.setEnabled(not running and self.concept.count() > 0)
        self.stop_btn.setEnabled(running)
        self.save_btn.setEnabled(self.evaluation is not None and not running)

    def request(self) -> EvalRequest:
        try:
            vals = tuple(float(v) for v in self.strengths.text().split(",") if v.strip())
        except ValueError:
            raise ValueError("strengths: comma-separated numbers, e.g. 0.5, 1, 2") from None
        if not vals or not all(math.isfinite(v) for v in vals):
            raise ValueError("give at least one finite strength")
        return EvalRequest(self.concept.currentData().name, vals, self.n_prompts.value(),
                           tuple(range(self.seeds.value())), self.tokens.value(), self.baselines.isChecked())

    def start(self) -> int | None:
        if not self.ctl.model.ready:
            self.status.setText("The model is not loaded yet.")
            return None
        try:
            req = self.request()
        except ValueError as e:
            self.status.setText(str(e))
            return None
        self.progress.setValue(0)
        job = self.run.start(req)
        self._enable()
        return job

    def stop(self) -> None:
        self.run.cancel()

    def _on_run(self, what: RunChange) -> None:
        if show_progress(what, self.run, self.progress, self.status):
            return
        if self.run.status == RunStatus.DONE and self.run.result is not None:
            self._done(self.run.result)
        elif self.run.status == RunStatus.FAILED:
            self.status.setText(f"Could not evaluate: {self.run.error}")
        elif not self.run.running:
            self.status.setText(describe_status(self.run))
        self._enable()

    def _end(self, text: str) -> None:
        self.status.setText(text)
        self._enable()

    def _done(self, res: dict) -> None:
        self.progress.setValue(100)
        rep = res["report"]
        rows = [(f"feature {rep['feature']['strength']:g}×", rep["feature"]), ("default", rep["default"])]
        if "prompting" in rep:
            rows.append(("prompting", rep["prompting"]))
        if "mean_difference" in rep:
            rows.append((f"mean diff {rep['mean_difference']['strength']:g}×", rep["mean_difference"]))
        self._fill(self.report, rows)
        sel = res["selection"]
        self._fill(self.selection, [("default", sel["default"])]
                   + [(f"feature {r['strength']:g}×", r) for r in sel["feature"]]
                   + [(f"mean diff {r['strength']:g}×", r) for r in sel["mean_difference"]])
        self._end(f"Chosen strength {rep['feature']['strength']:g}× on the selection prompts; "
                  f"{res['seconds']:.0f} s.")

    @staticmethod
    def _fill(table: QTableWidget, rows) -> None:
        table.setRowCount(len(rows))
        for i, (name, r) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(name))
            for j, k in enumerate(KEYS, 1):
                item = QTableWidgetItem(_cell(r.get(k)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(i, j, item)
        table.resizeColumnsToContents()

    def save_to(self, path: str | Path) -> Path:
        return self.run.save(path)

    def save_dialog(self) -> None:
        if self.evaluation is None:
            return
        name = f"eval_{self.evaluation['concept']['name']}.json"
        path, _ = QFileDialog.getSaveFileName(self, "Save the evaluation", name, "JSON (*.json)")
        if path:
            try:
                self._end(f"Saved {self.save_to(path)}")
            except OSError as e:
                self._end(f"Could not save: {e.strerror or e}")

    def done(self, r: int) -> None:
        self.stop()
        super().done(r)
