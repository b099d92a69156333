"""The "train an SAE" job: corpus → tokenise → collect → train → dictionary → evaluate as one job on the runner.

Progress follows the core pipeline's protocol: ``state.progress(fraction, "<stage>: <message>")`` with the fraction
rising from 0 to 1 within each stage (``STAGES``; "corpus" builds the built-in recipe's text first). Partials are
``TrainPoint``s (the training curve) and, first on a resumed run, one ``TrainHistory`` with the curve saved before.
A cancellation stops at the next batch or step and keeps the work folder, so the same ``RunSpec`` resumes; the
result is a ``TrainOutcome`` with the SAE moved to ``saes/<name>``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..core.training import pipeline
from ..core.training.run_specs import CORPUS, CORPUS_SUMMARY, RunSpec, TrainingSetupError, publish
from .loading import with_weights

if TYPE_CHECKING:
    from ..core.engine.models import LoadedModel
    from ..core.engine.session import Session
    from .jobs import JobFn, JobState

STAGES = ("corpus", *pipeline.STAGES)
METRICS_FILE = "metrics.jsonl"
EVAL_KEYS = ("explained_variance", "delta_loss", "ce_loss_recovered", "l0", "dead_fraction",
             "dead_fraction_training_scan", "tokens")


@dataclass(frozen=True)
class TrainPoint:
    step: int
    tokens: int
    total_tokens: int
    loss: float
    l0: float
    explained_variance: float
    dead_fraction: float
    tokens_per_s: float = 0.0


@dataclass(frozen=True)
class TrainHistory:
    points: tuple[TrainPoint, ...]


@dataclass(frozen=True)
class TrainOutcome:
    name: str
    path: str  # the finished SAE folder in saes/
    hook: str
    d_sae: int
    evaluation: Mapping[str, Any] | None  # EVAL_KEYS of eval.json (None without held-out text)
    stage_seconds: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # this job's, per stage
    seconds: float = 0.0


class _StageClock:
    """Forwards progress and notes when each stage starts, for the time per stage."""

    def __init__(self, state: JobState):
        self.state, self.t = state, time.perf_counter()
        self.stage: str | None = None
        self.seconds: dict[str, float] = {}

    def progress(self, fraction: float | None, message: str) -> None:
        stage = message.partition(": ")[0]
        if stage != self.stage:
            self.lap()
            self.stage = stage
        self.state.progress(fraction, message)

    def lap(self) -> None:
        now = time.perf_counter()
        if self.stage is not None:
            self.seconds[self.stage] = round(self.seconds.get(self.stage, 0.0) + now - self.t, 2)
        self.t = now


def _point(p: Any) -> TrainPoint:  # a core.training.trainer.TrainProgress
    return TrainPoint(int(p.step), int(p.tokens), int(p.total_tokens), float(p.loss), float(p.l0),
                      float(p.explained_variance), float(p.dead_fraction), float(p.tokens_per_s))


def saved_history(spec: RunSpec) -> tuple[TrainPoint, ...]:
    """The curve a cancelled run logged, up to its last checkpoint (a later point would be trained again)."""
    cfg = spec.pipeline_config()
    ckpt, log = cfg.work_dir / cfg.run / "checkpoint.json", spec.work_dir / METRICS_FILE
    if not ckpt.exists() or not log.exists():
        return ()
    last = int(json.loads(ckpt.read_text())["step"])
    points: list[TrainPoint] = []
    for line in log.read_text().splitlines():
        try:
            p = TrainPoint(**json.loads(line))
        except (ValueError, TypeError):
            continue  # a line torn by a crash
        if p.step <= last:
            points.append(p)
    return tuple(points)


def _check_model(spec: RunSpec, lm: LoadedModel) -> RunSpec:
    if spec.model and (spec.model != lm.name or (spec.model_sha256 and lm.sha256 and spec.model_sha256 != lm.sha256)):
        raise TrainingSetupError(f"the run {spec.name!r} was started with the model {spec.model}; load that model "
                                 f"to resume it (now loaded: {lm.name})")
    return replace(spec, model=lm.name, model_sha256=lm.sha256)


def train_job(spec: RunSpec) -> JobFn[TrainOutcome | None]:
    """The whole pipeline for ``spec`` (new or resumed) on the session's model."""
    spec.validate()

    def fn(session: Session | None, state: JobState) -> TrainOutcome | None:
        from ..core.training.builtin_corpus import builtin_documents, write_jsonl

        session = with_weights(session, "training an SAE")
        lm, t0 = session.lm, time.perf_counter()
        run = _check_model(spec, lm).validate(lm.n_layers)
        if run.out_dir.exists():
            raise TrainingSetupError(f"an SAE named {run.name!r} already exists; choose another name")
        cfg = run.pipeline_config()
        run.work_dir.mkdir(parents=True, exist_ok=True)
        run.save()
        history = saved_history(run)
        if history:
            state.partial(TrainHistory(history))
        clock = _StageClock(state)
        corpus, summary = run.work_dir / CORPUS, run.work_dir / CORPUS_SUMMARY  # the summary is written last
        if run.builtin and not (cfg.work_dir / pipeline.TOKENS_FILE).exists() and not summary.exists():
            clock.progress(0.0, "corpus: reading the built-in recipe's text")
            docs = builtin_documents(max_chars=run.builtin_chars(), cancelled=state.cancelled)
            sizes = write_jsonl(corpus, docs, summary)
            clock.progress(1.0, "corpus: " + ", ".join(f"{k} {v['chars'] // 1000} k characters"
                                                       for k, v in sizes.items()))
        log = (run.work_dir / METRICS_FILE).open("a", encoding="utf-8")

        def metrics(p: Any) -> None:
            point = _point(p)
            log.write(json.dumps(point.__dict__) + "\n")
            log.flush()
            state.partial(point)

        try:
            res = pipeline.run_pipeline(lm, cfg, clock.progress, state.cancelled, metrics)
        finally:
            log.close()
            clock.lap()
        if state.cancelled():
            return None
        ev = None if res.evaluation is None else MappingProxyType({k: res.evaluation.get(k) for k in EVAL_KEYS})
        path = publish(run)
        return TrainOutcome(run.name, str(path), run.hook, int(res.sae.cfg.d_sae), ev,
                            MappingProxyType(dict(clock.seconds)), round(time.perf_counter() - t0, 2))

    return fn
