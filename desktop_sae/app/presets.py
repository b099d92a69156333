"""Preset actions of the controller: the current steering, sampling and system prompt as a named preset; loading
one validates the whole file against the loaded SAE first, so a bad preset changes nothing."""

from __future__ import annotations

from pathlib import Path

from ..core.support.errors import DesktopSAEError, PresetError


class PresetActions:
    state = None  # AppState (set by the Controller)
    _store = None

    @property
    def store(self):
        if self._store is None:
            from ..core.presets.store import PresetStore

            self._store = PresetStore()
        return self._store

    def current_preset(self, name: str, description: str = ""):
        from ..core.presets.file_format import Preset, SAEIdentity

        st, info = self.state, self.state.info
        return Preset(
            name=name,
            steering=st.steering,
            sampling=st.sampling,
            model=info.model.name if info else "",
            sae=info.identity if info and info.identity else SAEIdentity(),
            system=st.system.strip() or None,
            description=description,
        )

    def save_preset(self, name: str, description: str = "") -> Path | None:
        try:
            path = self.store.save(self.current_preset(name.strip() or "untitled", description))
        except (PresetError, OSError) as e:
            self.report_error("Could not save the preset", str(e))
            return None
        self.set_status(f"Preset saved: {path}")
        return path

    def load_preset(self, path: str | Path) -> bool:
        """Validate the whole preset against the loaded SAE, then apply it; on any error nothing changes. Before
        the model is ready the preset waits and is applied once it is."""
        if not self.state.ready:
            self.pending_preset = str(path)
            return False
        from ..core.presets.identity import check_preset

        info = self.state.info
        try:
            p = self.store.read(path)
            check_preset(p, info.identity, info.max_activation)
            self.set_steering(self.labelled(p.steering))  # checks vector widths before changing anything
        except DesktopSAEError as e:
            self.report_error("Could not load the preset", str(e))
            return False
        self.set_sampling(p.sampling)
        if p.system is not None:
            self.set_system(p.system)
        self.store.touch_recent(path)
        self.set_status(f"Preset loaded: {p.name}")
        return True
