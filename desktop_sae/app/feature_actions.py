"""Feature actions of the controller: pins, the selected feature, token colouring, the inspected token and
user labels."""

from __future__ import annotations

from .state import ColorBy
from .tasks import logits_job

MAX_PINNED = 10


class FeatureActions:
    state = None  # AppState (set by the Controller)

    # --- features -----------------------------------------------------------------------------------------------
    def toggle_pin(self, f: int) -> None:
        pinned = self.state.pinned
        self.set_pinned(tuple(p for p in pinned if p != f) if f in pinned else (*pinned, int(f))[-MAX_PINNED:])

    def set_pinned(self, features) -> None:
        self.state.pinned = tuple(dict.fromkeys(int(f) for f in features))[-MAX_PINNED:]
        self.pins_changed.emit(self.state.pinned)

    def select(self, f: int) -> None:
        """Show feature ``f`` in the dashboard (top logits are computed on the worker when no dictionary has them)."""
        cat = self.state.catalog
        if cat is None or not 0 <= f < cat.d_sae:
            return
        self.state.selected = int(f)
        self.state.viewed = tuple(dict.fromkeys((*self.state.viewed, int(f))))[-20:]
        self.feature_selected.emit(int(f))
        if cat.entry(f) is None:
            self.run_job("logits", logits_job(int(f)), on_done=lambda m: m.result and self.logits.emit(m.result))

    def inspect_token(self, ev) -> None:
        """Show one token's strongest features (hover or click in the chat)."""
        self.state.inspected = ev
        self.token_inspected.emit(ev)

    def color_by(self, f: int | None) -> None:
        st, cat = self.state, self.state.catalog
        if f is None or cat is None:
            st.color = None
        else:
            vmax = float(cat.max_activation[f]) if st.info.has_stats(f) else float(cat.conv_max[f])
            st.color = ColorBy(int(f), vmax if vmax > 0 else 1.0, cat.label(f))
        self.color_changed.emit(st.color)

    def set_label(self, f: int, text: str):
        """Save a user label for ``f`` (an empty text restores the automatic one); returns the file or None."""
        cat = self.state.catalog
        if cat is None:
            return None
        try:
            path = cat.set_label(f, text)
        except OSError as e:
            self.report_error("Could not save the label", str(e))
            return None
        self.set_status(f"Label saved to {path}")
        self.labels_changed.emit(f)
        return path
