"""One SAE training run as the app follows it: start, cancel, resume and use the result, through the controller.

``TrainingRun`` keeps what the dialog draws — the stage being run and its fraction, the stages finished, the
training curve, the outcome or the error — and emits ``changed(what)`` with what = "progress", "points" or
"status". It holds no Qt; the callbacks arrive on the controller's thread (``Controller.poll``).
"""

from __future__ import annotations

from ..core.training.runs import RunSpec, TrainingSetupError, unfinished_runs
from .events import Signal
from .messages import JobCancelled, JobDone, JobFailed, JobPartial, JobProgress
from .train_tasks import STAGES, TrainHistory, TrainOutcome, TrainPoint, train_job

JOB_KIND = "train-sae"
IDLE, RUNNING, CANCELLING, CANCELLED, FAILED, DONE = "idle", "running", "cancelling", "cancelled", "failed", "done"


class TrainingRun:
    def __init__(self, controller):
        self.ctl = controller
        self.spec: RunSpec | None = None
        self.job_id: int | None = None
        self.status = IDLE
        self.stage, self.fraction, self.message = "", None, ""
        self.finished: list[str] = []  # stages completed in this job
        self.points: list[TrainPoint] = []
        self.outcome: TrainOutcome | None = None
        self.error: str | None = None
        self.changed = Signal("training_changed")

    @property
    def running(self) -> bool:
        return self.status in (RUNNING, CANCELLING)

    @property
    def can_resume(self) -> bool:
        return self.spec is not None and self.status in (CANCELLED, FAILED)

    # --- actions ---------------------------------------------------------------------------------------------
    def start(self, spec: RunSpec) -> int:
        """Start a new run (its name must be free); raises TrainingSetupError before anything starts."""
        if self.running:
            raise TrainingSetupError("a training run is in progress; cancel it first")
        info = self.ctl.state.info
        if info is None:
            raise TrainingSetupError("load a model first")
        spec = spec.validate(info.model.layers or None)
        if spec.out_dir.exists() or spec.work_dir.exists():
            raise TrainingSetupError(f"the name {spec.name!r} is taken (a trained SAE or an unfinished run); "
                                     "choose another or resume that run")
        self.points = []
        return self._submit(spec)

    def resume(self, spec: RunSpec | None = None) -> int:
        """Continue ``spec`` (default: this run) from its work folder: finished stages are skipped, training
        continues from its last checkpoint."""
        spec = spec or self.spec
        if spec is None:
            raise TrainingSetupError("there is no run to resume")
        if self.running:
            raise TrainingSetupError("a training run is in progress")
        if spec != self.spec:
            self.points = []
        return self._submit(spec)

    def cancel(self) -> None:
        if self.running and self.job_id is not None:
            self.ctl.cancel_job(self.job_id)
            self._set_status(CANCELLING)

    def use(self) -> int | None:
        """Load the finished SAE onto the running model (the controller refuses one that does not fit)."""
        if self.outcome is None:
            return None
        return self.ctl.load_sae(self.outcome.path)

    @staticmethod
    def unfinished() -> list[RunSpec]:
        return unfinished_runs()

    # --- the job ---------------------------------------------------------------------------------------------
    def _submit(self, spec: RunSpec) -> int:
        self.spec, self.outcome, self.error = spec, None, None
        self.stage, self.fraction, self.message, self.finished = "", None, "", []
        self.job_id = self.ctl.run_job(JOB_KIND, train_job(spec), on_progress=self._on_progress,
                                       on_partial=self._on_partial, on_done=self._on_done, on_failed=self._on_failed,
                                       on_cancelled=self._on_cancelled)
        self._set_status(RUNNING)
        return self.job_id

    def _mine(self, msg) -> bool:
        return msg.job_id == self.job_id

    def _on_progress(self, msg: JobProgress) -> None:
        if not self._mine(msg):
            return
        stage, _, text = msg.message.partition(": ")
        if stage != self.stage and stage in STAGES:
            if self.stage and self.stage not in self.finished:
                self.finished.append(self.stage)
            self.stage = stage
        self.fraction, self.message = msg.fraction, text
        self.changed.emit("progress")

    def _on_partial(self, msg: JobPartial) -> None:
        if not self._mine(msg):
            return
        p = msg.payload
        if isinstance(p, TrainHistory):
            self.points = list(p.points)
        elif isinstance(p, TrainPoint):
            while self.points and self.points[-1].step >= p.step:  # trained again after a resume
                self.points.pop()
            self.points.append(p)
        self.changed.emit("points")

    def _on_done(self, msg: JobDone) -> None:
        if self._mine(msg):
            if self.stage and self.stage not in self.finished:
                self.finished.append(self.stage)
            self.outcome = msg.result
            self._set_status(DONE)

    def _on_failed(self, msg: JobFailed) -> None:
        if self._mine(msg):
            self.error = msg.message
            self._set_status(FAILED)

    def _on_cancelled(self, msg: JobCancelled) -> None:
        if self._mine(msg):
            self._set_status(CANCELLED)

    def _set_status(self, status: str) -> None:
        self.status = status
        self.changed.emit("status")
