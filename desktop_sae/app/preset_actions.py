"""Presets in the app: the current steering, sampling and system prompt as a named preset, saved to the store;
loading one validates the whole file against the loaded SAE first, so a bad preset changes nothing. A preset
asked for before the model is ready waits and is applied once it is. The current steering can also leave the app
as one fixed vector: a llama.cpp control vector or a steering-vector file (docs/STEERING_EXPORT.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..core.support.errors import DesktopSAEError, PresetError, SteeringError
from .conversation import Conversation
from .events import Signal
from .job_handles import JobHandle, Jobs
from .messages import JobKind
from .model_slot import ModelSlot
from .notices import Notices
from .steering_model import SteeringModel

if TYPE_CHECKING:
    from ..core.engine.session import Session
    from ..core.interop.steering_export import ExportFormat, SteeringExport
    from ..core.presets.file_format import Preset, SAEIdentity
    from ..core.presets.store import PresetStore
    from ..core.steering.specs import SteeringConfig
    from .jobs import JobFn, JobState


class PresetActions:
    def __init__(self, model: ModelSlot, steering: SteeringModel, conversation: Conversation, notices: Notices,
                 jobs: Jobs, store: PresetStore | None = None):
        self.model, self.steering, self.conversation, self.notices = model, steering, conversation, notices
        self.jobs = jobs
        self._store = store
        self.pending: str | None = None  # a preset to apply once the model is ready
        self.exported: Signal[[SteeringExport, Path]] = Signal("exported")  # an export written: what, and where
        model.ready_changed.connect(self._apply_pending)

    @property
    def store(self) -> PresetStore:
        if self._store is None:
            from ..core.presets.store import PresetStore

            self._store = PresetStore()
        return self._store

    def current(self, name: str, description: str = "") -> Preset:
        from ..core.presets.file_format import Preset, SAEIdentity

        info, conv = self.model.info, self.conversation
        return Preset(
            name=name,
            steering=self.steering.config,
            sampling=conv.sampling,
            model=info.model.name if info else "",
            sae=info.identity if info and info.identity else SAEIdentity(),
            system=conv.system.strip() or None,
            description=description,
        )

    def save(self, name: str, description: str = "") -> Path | None:
        try:
            path = self.store.save(self.current(name.strip() or "untitled", description))
        except (PresetError, OSError) as e:
            self.notices.report_error("Could not save the preset", str(e))
            return None
        self.notices.set_status(f"Preset saved: {path}")
        return path

    def load(self, path: str | Path) -> bool:
        """Validate the whole preset against the loaded SAE, then apply it; on any error nothing changes. Before
        the model is ready the preset waits and is applied once it is."""
        info = self.model.info
        if not self.model.ready or info is None:
            self.pending = str(path)
            return False
        from ..core.presets.identity import check_preset

        try:
            p = self.store.read(path)
            check_preset(p, info.identity, info.max_activation)
            self.steering.set_steering(self.steering.labelled(p.steering))  # checks vector widths first
        except DesktopSAEError as e:
            self.notices.report_error("Could not load the preset", str(e))
            return False
        self.conversation.set_sampling(p.sampling)
        if p.system is not None:
            self.conversation.set_system(p.system)
        self.store.touch_recent(path)
        self.notices.set_status(f"Preset loaded: {p.name}")
        return True

    def _apply_pending(self, ready: bool) -> None:
        if ready and self.pending:
            path, self.pending = self.pending, None
            self.load(path)

    # --- out of the app ------------------------------------------------------------------------------------------
    def export_steering(self, path: str | Path,
                        fmt: ExportFormat | None = None) -> JobHandle[None, tuple[SteeringExport, Path]] | None:
        """Write the current steering as one added vector (``fmt``, default: by the file's suffix) from the loaded
        SAE's decoder, on the worker. Steering no fixed vector can express is refused at once, naming the rows,
        and nothing is written; the result is a status line and ``exported``."""
        from ..core.interop.steering_export import ExportFormat, llamacpp_layer, refused_rows

        info = self.model.info
        try:
            fmt = ExportFormat.of_path(path) if fmt is None else fmt
            if not self.model.ready or info is None or info.sae is None or info.identity is None:
                raise SteeringError("load a model and an SAE first: the vector is made from the SAE's decoder")
            cfg = self.steering.config
            refused = refused_rows(cfg)
            if refused:
                raise SteeringError("only additive steering can be exported as a fixed vector; these rows cannot: "
                                    + "; ".join(refused))
            if fmt is ExportFormat.GGUF:
                llamacpp_layer(info.sae.hook)
        except DesktopSAEError as e:
            self.notices.report_error("Could not export the steering", str(e))
            return None
        out = Path(path)

        def done(result: tuple[SteeringExport, Path]) -> None:
            export, written = result
            where = f", llama.cpp layer {export.layer}" if fmt is ExportFormat.GGUF else ""
            self.notices.set_status(f"Steering exported ({len(export.rows)} rows{where}): {written}")
            self.exported.emit(export, written)

        return self.jobs.submit(JobKind.EXPORT_STEERING,
                                export_job(cfg, out, fmt, info.model.name, info.identity, out.stem),
                                on_done=done,
                                on_failed=lambda msg: self.notices.report_error("Could not export the steering", msg))


def export_job(steering: SteeringConfig, path: Path, fmt: ExportFormat, model: str, identity: SAEIdentity,
               name: str) -> JobFn[tuple[SteeringExport, Path]]:
    """The worker's half of an export: the vector from the session's SAE, written atomically."""

    def fn(session: Session | None, _state: JobState) -> tuple[SteeringExport, Path]:
        from ..core.interop.steering_export import build_export, write_export

        if session is None or session.sae is None or session.hook_name is None:
            raise SteeringError("load a model and an SAE first: the vector is made from the SAE's decoder")
        export = build_export(steering, session.sae, hook=session.hook_name, model=model, identity=identity,
                              name=name)
        return export, write_export(export, path, fmt)

    return fn
