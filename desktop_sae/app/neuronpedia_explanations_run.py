"""Neuronpedia's explanations for an SAE as a run: fetched from Neuronpedia's exports (``core.explanations.
neuronpedia_fetch``) or read from an export file, then stored beside the SAE as its ``explanations.json`` with their
provenance. It runs on the job runner (the session is not touched), reports progress and honours Cancel between
chunks; nothing is written unless everything was read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.support.errors import DesktopSAEError
from .job_handles import Jobs
from .messages import JobKind
from .model_slot import ModelSlot
from .runs import Run

if TYPE_CHECKING:
    from ..core.engine.session import Session
    from .jobs import JobFn, JobState


@dataclass(frozen=True)
class ExplanationsRequest:
    sae_folder: str
    neuronpedia_id: str  # "model/source"
    d_sae: int
    file: str | None = None  # read this export file instead of fetching
    replace: bool = False  # replace explanations already stored


@dataclass(frozen=True)
class ExplanationsOutcome:
    added: int  # explanations added or replaced
    found: int  # usable explanations read
    stored: int  # explanations beside the SAE now
    origin: str  # the URL fetched or the file read
    path: str  # the explanations file written


def explanations_job(req: ExplanationsRequest) -> JobFn[ExplanationsOutcome]:
    def fn(_session: Session | None, state: JobState) -> ExplanationsOutcome:
        from ..core.explanations.neuronpedia_fetch import fetch_explanations, split_neuronpedia_id, store_fetched
        from ..core.explanations.neuronpedia_fields import merge_explanations, read_neuronpedia_explanations
        from ..core.explanations.store import ExplanationStore, now

        model, source = split_neuronpedia_id(req.neuronpedia_id)
        if req.file is not None:
            state.progress(None, f"Reading {Path(req.file).name}")
            found = read_neuronpedia_explanations(req.file, req.d_sae, model, source, default_date=now())
            store = ExplanationStore.beside(req.sae_folder)
            origin = {"neuronpedia_id": f"{model}/{source}", "file": req.file}
            added = merge_explanations(store, found, origin, req.replace)
            return ExplanationsOutcome(added, len(found), len(store.explanations), req.file, str(store.path))
        fetched = fetch_explanations(req.neuronpedia_id, req.d_sae, state.progress, state.cancelled)
        state.progress(1.0, "Saving")
        added, store = store_fetched(fetched, req.sae_folder, req.replace)
        return ExplanationsOutcome(added, len(fetched.explanations), len(store.explanations), fetched.url,
                                   str(store.path))

    return fn


class NeuronpediaExplanationsRun(Run[object, ExplanationsOutcome]):
    """When the explanations were stored beside the SAE the window has loaded, its ``ModelSlot`` reads them again."""

    kind = JobKind.NEURONPEDIA_EXPLANATIONS

    def __init__(self, jobs: Jobs, model: ModelSlot | None = None):
        super().__init__(jobs)
        self.model = model
        self.request: ExplanationsRequest | None = None

    def on_result(self, result: ExplanationsOutcome) -> None:
        from ..core.features.user_labels import sae_folder

        info = self.model.info if self.model is not None else None
        loaded = sae_folder(info.sae_path) if info is not None and info.sae_path else None
        if self.model is not None and loaded is not None and Path(result.path).parent.resolve() == loaded.resolve():
            self.model.reload_explanations()

    def start(self, req: ExplanationsRequest) -> int:
        """Start fetching (or importing); a request without an SAE or with a bad id raises before anything starts."""
        from ..core.explanations.neuronpedia_fetch import split_neuronpedia_id

        if not req.sae_folder or req.d_sae <= 0:
            raise DesktopSAEError("choose a downloaded SAE first")
        split_neuronpedia_id(req.neuronpedia_id)
        self.request = req
        return self._start(explanations_job(req)).id
