"""The neuron view's computation as a run: any MLP neuron of the layer, computed on the loaded model over the shipped
texts (``core.classroom.neuron_report``). The layer's activations are kept after the first neuron, so the next one
of the same layer and model costs only the SAE encoding of its peaks."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .job_handles import Jobs
from .loading import with_weights
from .messages import JobKind
from .runs import Run

if TYPE_CHECKING:
    from ..core.classroom.neuron_report import NeuronReport
    from ..core.engine.session import Session
    from .jobs import JobFn, JobState


@dataclass(frozen=True)
class NeuronResult:
    report: NeuronReport
    session: weakref.ReferenceType[Session]  # the session it was computed with (its activations fit only that)


class NeuronRun(Run[object, NeuronResult]):
    kind = JobKind.NEURON

    def __init__(self, jobs: Jobs):
        super().__init__(jobs)
        self.last: NeuronResult | None = None  # kept across runs: its layer activations may serve the next neuron

    @property
    def report(self) -> NeuronReport | None:
        return self.result.report if self.result is not None else None

    def start(self, neuron: int, layer: int | None, texts: Sequence[str], topics: Sequence[str]) -> int:
        return self._start(self._job(int(neuron), layer, tuple(texts), tuple(topics))).id

    def _job(self, neuron: int, layer: int | None, texts: tuple[str, ...],
             topics: tuple[str, ...]) -> JobFn[NeuronResult]:
        last = self.last

        def fn(session: Session | None, state: JobState) -> NeuronResult:
            from ..core.classroom.neuron_report import neuron_report, report_layer

            session = with_weights(session, "the neuron view")
            reuse = last is not None and last.session() is session and last.report.layer == report_layer(session, layer)
            report = neuron_report(session, neuron, layer, texts, topics,
                                   last.report.activations if reuse and last is not None else None,
                                   state.progress, state.cancelled)
            return NeuronResult(report, weakref.ref(session))

        return fn

    def on_result(self, result: NeuronResult) -> None:
        self.last = result
