"""Presets in the app: the current steering, sampling and system prompt as a named preset, saved to the store;
loading one validates the whole file against the loaded SAE first, so a bad preset changes nothing. A preset
asked for before the model is ready waits and is applied once it is."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..core.support.errors import DesktopSAEError, PresetError
from .conversation import Conversation
from .model_slot import ModelSlot
from .notices import Notices
from .steering_model import SteeringModel

if TYPE_CHECKING:
    from ..core.presets.file_format import Preset
    from ..core.presets.store import PresetStore


class PresetActions:
    def __init__(self, model: ModelSlot, steering: SteeringModel, conversation: Conversation, notices: Notices,
                 store: PresetStore | None = None):
        self.model, self.steering, self.conversation, self.notices = model, steering, conversation, notices
        self._store = store
        self.pending: str | None = None  # a preset to apply once the model is ready
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
