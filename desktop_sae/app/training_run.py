"""One SAE training run as the app follows it: start, cancel, resume and use the result.

``TrainingRun`` keeps what the dialog draws — the stage being run and its fraction, the stages finished, the
training curve, the outcome or the error — and emits ``changed`` (progress, a new curve point, status). It holds
no Qt; the callbacks arrive on the app thread.
"""

from __future__ import annotations

from ..core.training.run_specs import RunSpec, TrainingSetupError, unfinished_runs
from .job_handles import Jobs
from .messages import JobKind
from .model_slot import ModelSlot
from .runs import Run, RunStatus
from .train_tasks import STAGES, TrainHistory, TrainOutcome, TrainPoint, train_job


class TrainingRun(Run["TrainPoint | TrainHistory", "TrainOutcome | None"]):
    kind = JobKind.TRAIN_SAE

    def __init__(self, jobs: Jobs, model: ModelSlot):
        super().__init__(jobs)
        self.model = model
        self.spec: RunSpec | None = None
        self.stage = ""
        self.finished: list[str] = []  # stages completed in this job
        self.points: list[TrainPoint] = []

    @property
    def outcome(self) -> TrainOutcome | None:
        return self.result

    @property
    def can_resume(self) -> bool:
        return self.spec is not None and self.status in (RunStatus.CANCELLED, RunStatus.FAILED)

    # --- actions ---------------------------------------------------------------------------------------------
    def start(self, spec: RunSpec) -> int:
        """Start a new run (its name must be free); raises TrainingSetupError before anything starts."""
        if self.running:
            raise TrainingSetupError("a training run is in progress; cancel it first")
        info = self.model.info
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

    def use(self) -> int | None:
        """Load the finished SAE onto the running model (a pair that does not fit is refused)."""
        if self.outcome is None:
            return None
        return self.model.load_sae(str(self.outcome.path))

    @staticmethod
    def unfinished() -> list[RunSpec]:
        return unfinished_runs()

    # --- the job ---------------------------------------------------------------------------------------------
    def _submit(self, spec: RunSpec) -> int:
        self.spec = spec
        return self._start(train_job(spec)).id

    def on_started(self) -> None:
        self.stage, self.finished = "", []

    def on_progress(self, fraction: float | None, message: str) -> None:
        stage, _, text = message.partition(": ")
        if stage != self.stage and stage in STAGES:
            if self.stage and self.stage not in self.finished:
                self.finished.append(self.stage)
            self.stage = stage
        self.message = text

    def on_partial(self, payload: TrainPoint | TrainHistory) -> None:
        if isinstance(payload, TrainHistory):
            self.points = list(payload.points)
        else:
            while self.points and self.points[-1].step >= payload.step:  # trained again after a resume
                self.points.pop()
            self.points.append(payload)

    def on_result(self, result: TrainOutcome | None) -> None:
        if self.stage and self.stage not in self.finished:
            self.finished.append(self.stage)
