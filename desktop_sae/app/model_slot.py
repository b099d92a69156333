"""The loaded model and SAE: the one sub-model that loads or swaps them (on the worker) and says when the app is
ready. A new pair replaces the old one only once it is complete, so a refused SAE leaves the old pair in use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import Signal
from .job_handles import Jobs, JobSlot
from .jobs import JobFn
from .loading import Loader, LoadRequest, ModelInfo, load_job, load_sae_job
from .messages import JobKind
from .notices import Notices

if TYPE_CHECKING:
    from ..core.features.catalog import FeatureCatalog


class ModelSlot:
    def __init__(self, jobs: Jobs, notices: Notices, loader: Loader | None = None):
        self.jobs, self.notices, self.loader = jobs, notices, loader
        self.info: ModelInfo | None = None
        self.ready = False
        self._slot: JobSlot[object, ModelInfo | None] = JobSlot(jobs, JobKind.LOAD)
        self.progress: Signal[[float | None, str]] = Signal("load_progress")
        self.loaded: Signal[[ModelInfo]] = Signal("model_loaded")  # a new pair is in use
        self.ready_changed: Signal[[bool]] = Signal("ready")
        self.load_finished: Signal[[]] = Signal("load_finished")  # however it ended
        self.explanations_changed: Signal[[]] = Signal("explanations_changed")  # files beside the SAE rewritten

    @property
    def catalog(self) -> FeatureCatalog | None:
        return self.info.catalog if self.info is not None else None

    @property
    def d_sae(self) -> int:
        return self.info.d_sae if self.info is not None else 0

    @property
    def has_sae(self) -> bool:
        return self.info is not None and self.info.sae is not None

    @property
    def loading(self) -> bool:
        return self._slot.busy

    def label(self, f: int) -> str:
        """Feature ``f``'s label in the loaded SAE ("" when it has none or does not exist)."""
        cat = self.catalog
        return cat.label(f) if cat is not None and 0 <= f < cat.d_sae else ""

    # --- actions -------------------------------------------------------------------------------------------------
    def load(self, req: LoadRequest = LoadRequest()) -> int:
        """Load a model and SAE (at start, or another pair later); the current pair stays until it is ready."""
        self.notices.set_status("Loading the model…")
        return self._start(load_job(req, self.loader))

    def load_sae(self, path: str, hook: str | None = None) -> int:
        """Put another SAE on the loaded model; a mismatch is refused with a message and changes nothing."""
        self.notices.set_status(f"Loading SAE {path}…")
        return self._start(load_sae_job(str(path), hook))

    def cancel(self) -> None:
        self._slot.cancel()

    def reload_explanations(self) -> None:
        """The explanation files beside the loaded SAE changed (Tools → Explain features… wrote them): read them
        again into the catalog and the snapshot, then tell whoever shows them (``explanations_changed``)."""
        from dataclasses import replace

        from ..core.explanations.shown import ShownExplanations
        from ..core.features.user_labels import sae_folder

        info = self.info
        if info is None or info.catalog is None or info.sae_path is None:
            return
        explained = ShownExplanations.beside(sae_folder(info.sae_path))
        for problem in explained.problems:
            self.notices.set_status(f"Explanations: {problem}")
        info.catalog.set_explanations(explained.explanations)
        self.info = replace(info, explained=explained)
        self.explanations_changed.emit()

    def _start(self, fn: JobFn[ModelInfo | None]) -> int:
        handle = self._slot.start(fn, on_progress=self._on_progress, on_done=self._on_loaded,
                                  on_failed=self._on_failed, on_cancelled=self._on_cancelled)
        return handle.id

    # --- job callbacks -------------------------------------------------------------------------------------------
    def _on_progress(self, fraction: float | None, message: str) -> None:
        self.notices.status = message
        self.progress.emit(fraction, message)

    def _on_loaded(self, info: ModelInfo | None) -> None:
        if info is not None:
            self.info = info
            self.notices.set_status(f"Ready ({info.load_seconds:.1f} s)"
                                    + "".join(f" · warning: {w}" for w in info.warnings))
            self.loaded.emit(info)
            self._set_ready(True)
        self.load_finished.emit()

    def _on_failed(self, message: str) -> None:
        self.notices.report_error("Could not load " + ("the model" if self.info is None else "it"), message)
        if self.info is None:
            self._set_ready(False)
        self.load_finished.emit()

    def _on_cancelled(self, _result: ModelInfo | None) -> None:
        self.notices.set_status("Loading cancelled")
        self.load_finished.emit()

    def _set_ready(self, ready: bool) -> None:
        self.ready = ready
        self.ready_changed.emit(ready)
