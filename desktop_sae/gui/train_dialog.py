"""File → Train an SAE…: pick a corpus and the SAE's shape, train it on the loaded model as one job with live
curves, cancel and resume, read the evaluation, and put the new SAE on the model to steer with it.

The dialog renders an ``app.training_run.TrainingRun`` and forwards the buttons to it; the run goes on (and the
chat waits: one model, one worker) if the dialog is closed, and File → Train an SAE… shows it again."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ..app.controller import Controller
from ..app.loading import ModelInfo
from ..app.runs import RunChange, RunStatus
from ..app.train_tasks import STAGES
from ..app.training_run import TrainingRun
from ..core.support.errors import DesktopSAEError
from .lifetime import bind
from .train_form import TrainForm
from .train_plots import TrainPlots

STATUS_TEXT = {RunStatus.RUNNING: "Training…", RunStatus.CANCELLING: "Stopping at the next step…",
               RunStatus.CANCELLED: "Cancelled — Resume goes on from where it stopped.", RunStatus.FAILED: "Failed",
               RunStatus.DONE: "Done"}


def open_train_dialog(win) -> TrainDialog:
    """Show the window's training dialog (made on first use, kept while the window lives)."""
    dlg = getattr(win, "train_dialog", None)
    if dlg is None:
        dlg = win.train_dialog = TrainDialog(win.controller, win)
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg


def evaluation_html(outcome) -> str:
    """The finished SAE's quality in one short paragraph, plus where it went and the time per stage."""
    ev = outcome.evaluation
    if ev is None:
        quality = "No held-out text was left for an evaluation (add more text to the corpus)."
    else:
        dead = ev.get("dead_fraction_training_scan")
        dead_txt = (f"{100 * dead:.1f} % of latents never fired in the training scan" if dead is not None
                    else f"{100 * ev['dead_fraction']:.1f} % silent on the held-out text")
        quality = (f"<b>Explained variance {ev['explained_variance']:.3f}</b> · <b>Δ loss "
                   f"{ev['delta_loss']:.3f} nats</b> (CE loss recovered {ev['ce_loss_recovered']:.3f}) · "
                   f"L0 {ev['l0']:.1f} · dead: {dead_txt} — on {ev['tokens']:,} held-out tokens.")
    times = " · ".join(f"{k} {v:.1f} s" if v < 10 else f"{k} {v:.0f} s" for k, v in outcome.stage_seconds.items())
    return (f"{quality}<br><small>{outcome.d_sae:,} latents at {outcome.hook}, saved to "
            f"{html.escape(outcome.path)}<br>Time per stage: {times}</small>")


class TrainDialog(QDialog):
    def __init__(self, controller: Controller, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Train an SAE")
        self.resize(1180, 760)
        self.ctl = controller
        self.run = TrainingRun(controller.jobs, controller.model)
        self.form = TrainForm()
        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(400)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.start_btn = QPushButton("Start")
        self.start_btn.setDefault(True)
        self.cancel_btn = QPushButton("Cancel")
        self.resume_btn = QPushButton("Resume")
        self.close_btn = QPushButton("Close")
        self.start_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.run.cancel)
        self.resume_btn.clicked.connect(self.resume)
        self.close_btn.clicked.connect(self.close)
        self.close_btn.setToolTip("Hide this window; a run goes on and File → Train an SAE… shows it again")
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.cancel_btn, self.resume_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_btn)
        left = QVBoxLayout()
        left.addWidget(scroll, 1)
        left.addLayout(buttons)
        # --- the run
        self.header = QLabel("Choose a corpus and the SAE's shape, then Start.")
        self.header.setWordWrap(True)
        self.stages = QLabel("")
        self.stages.setTextFormat(Qt.TextFormat.RichText)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setMinimumHeight(34)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.plots = TrainPlots()
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_btn = QPushButton("Use this SAE")
        self.use_btn.setToolTip("Put the new SAE on the loaded model: its features appear in the feature list, "
                                "ready to steer")
        self.use_btn.clicked.connect(self.use)
        self.result_box = QGroupBox("Result")
        rl = QVBoxLayout(self.result_box)
        rl.addWidget(self.result_label)
        rl.addWidget(self.use_btn, 0, Qt.AlignmentFlag.AlignLeft)
        note = QLabel("While an SAE trains the chat waits for it (one model, one worker thread).")
        note.setStyleSheet("color: palette(placeholder-text);")
        right = QVBoxLayout()
        right.addWidget(self.header)
        right.addWidget(self.stages)
        right.addWidget(self.bar)
        right.addWidget(self.message)
        right.addWidget(self.plots, 1)
        right.addWidget(self.result_box)
        right.addWidget(note)
        outer = QHBoxLayout(self)
        outer.addLayout(left, 0)
        outer.addLayout(right, 1)
        self._in_use = False  # "Use this SAE" was clicked and its load has not arrived yet
        bind(self.run.changed, self, self._on_run)
        bind(controller.model.loaded, self, self._on_model_loaded)
        bind(controller.model.ready_changed, self, lambda _r: self._refresh_buttons())
        info = controller.model.info
        if info is not None:
            self._on_model_loaded(info, from_use=False)
        self.result_box.hide()
        self._refresh_stages()
        self._refresh_buttons()

    # --- actions -----------------------------------------------------------------------------------------------
    def start(self) -> bool:
        return self._submit(lambda: self.run.start(self.form.spec()))

    def resume(self) -> bool:
        if self.run.can_resume:
            return self._submit(self.run.resume)
        pending = self.run.unfinished()
        return bool(pending) and self._submit(lambda: self.run.resume(pending[0]))

    def _submit(self, go) -> bool:
        try:
            go()
        except DesktopSAEError as e:
            self.header.setText(f"<span style='color:#d62728'>{html.escape(str(e))}</span>")
            return False
        self.result_box.hide()
        self._in_use = False
        self.plots.set_points(self.run.points)
        spec = self.run.spec
        assert spec is not None  # a started or resumed run has its spec
        self.header.setText(f"<b>{html.escape(spec.name)}</b> — {spec.width:,} latents, k {spec.k}, at {spec.hook}")
        return True

    def use(self) -> None:
        if self.run.use() is not None:
            self.use_btn.setEnabled(False)
            self._in_use = True
            self.message.setText("Loading the new SAE onto the model…")

    # --- the run -> widgets ------------------------------------------------------------------------------------
    def _on_run(self, what: RunChange) -> None:
        run = self.run
        if what == RunChange.PARTIAL:
            self.plots.set_points(run.points)
            return
        if what == RunChange.PROGRESS:
            self.bar.setRange(0, 0 if run.fraction is None else 1000)
            self.bar.setValue(int(1000 * (run.fraction or 0)))
            self.message.setText(f"{run.stage}: {run.message}")
        else:
            self.message.setText(STATUS_TEXT.get(run.status, "") + (f": {run.error}" if run.error else ""))
            if run.status == RunStatus.DONE:
                self.bar.setRange(0, 1000)
                self.bar.setValue(1000)
                self.plots.set_points(run.points)
                self.result_label.setText(evaluation_html(run.outcome))
                self.result_box.show()
                self.use_btn.setEnabled(True)
                self.form.refresh_name()  # the automatic name moves on: this one is taken now
            self._refresh_buttons()
        self._refresh_stages()

    def _refresh_stages(self) -> None:
        run = self.run
        shown = STAGES if run.spec is None or run.spec.builtin else STAGES[1:]
        parts = []
        for s in shown:
            if s in run.finished:
                parts.append(f"<span style='color:#2ca02c'>✓ {s}</span>")
            elif s == run.stage and run.running:
                pct = "" if run.fraction is None else f" {100 * run.fraction:.0f}%"
                parts.append(f"<b>▶ {s}{pct}</b>")
            else:
                parts.append(f"<span style='color:gray'>○ {s}</span>")
        self.stages.setText(" &nbsp; ".join(parts))

    def _refresh_buttons(self) -> None:
        run, ready = self.run, self.ctl.model.ready
        self.start_btn.setEnabled(ready and not run.running)
        self.cancel_btn.setEnabled(run.running)
        pending = [] if run.running or run.can_resume else run.unfinished()
        self.resume_btn.setEnabled(ready and (run.can_resume or bool(pending)))
        self.resume_btn.setText(f"Resume {pending[0].name}" if pending and not run.can_resume else "Resume")
        self.form.setEnabled(not run.running)

    def _on_model_loaded(self, info: ModelInfo, from_use: bool = True) -> None:
        self.form.set_model(info.model.name, info.model.layers, info.model.width, info.sae.hook if info.sae else None)
        out = self.run.outcome
        if from_use and self._in_use and out is not None and info.sae_path == out.path:
            self.message.setText(f"In use: {out.name}. Its features are in the feature list — steer with them "
                                 "from the Steering panel.")
        self._refresh_buttons()
