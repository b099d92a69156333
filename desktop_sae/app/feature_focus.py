"""The features the user is looking at: pinned ones (plotted live), the selected one (its dashboard), the one the
chat is coloured by, the token last inspected, the dashboards opened (for the report), and user labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .events import Signal
from .job_handles import Jobs, JobSlot
from .jobs import JobFn
from .messages import JobKind
from .model_slot import ModelSlot
from .notices import Notices

if TYPE_CHECKING:
    from ..core.engine.generation import TokenEvent
    from ..core.engine.session import Session
    from ..core.features.readout import FeatureLogits
    from .jobs import JobState

MAX_PINNED = 10
MAX_VIEWED = 20


@dataclass(frozen=True)
class ColorBy:
    feature: int
    vmax: float
    label: str = ""


def logits_job(feature: int, n: int = 10) -> JobFn[FeatureLogits | None]:
    def fn(session: Session | None, _state: JobState) -> FeatureLogits | None:
        from ..core.features.readout import feature_logits

        if session is None or session.sae is None or not 0 <= feature < session.sae.cfg.d_sae:
            return None
        if not session.weights_here:  # the unembedding stays on NDIF: the dashboard shows no logit effects
            return None
        return feature_logits(session, feature, n)

    return fn


class FeatureFocus:
    def __init__(self, model: ModelSlot, jobs: Jobs, notices: Notices):
        self.model, self.notices = model, notices
        self.pinned: tuple[int, ...] = ()
        self.selected: int | None = None
        self.color: ColorBy | None = None
        self.inspected: TokenEvent | None = None
        self.viewed: tuple[int, ...] = ()
        self._logits: JobSlot[object, FeatureLogits | None] = JobSlot(jobs, JobKind.LOGITS)
        self.pins_changed: Signal[[tuple[int, ...]]] = Signal("pins")
        self.selected_changed: Signal[[int]] = Signal("selected")
        self.color_changed: Signal[[ColorBy | None]] = Signal("color")
        self.labels_changed: Signal[[int]] = Signal("labels")
        self.logits: Signal[[FeatureLogits]] = Signal("logits")  # computed for a selected feature
        self.token_inspected: Signal[[TokenEvent]] = Signal("token_inspected")

    def reset_for_new_sae(self) -> None:
        """Feature ids mean nothing across SAEs: pins, selection and colour start afresh."""
        self.selected, self.inspected = None, None
        self.set_pinned(())
        self.color = None
        self.color_changed.emit(None)

    def label(self, f: int) -> str:
        return self.model.label(f)

    def toggle_pin(self, f: int) -> None:
        pinned = self.pinned
        self.set_pinned(tuple(p for p in pinned if p != f) if f in pinned else (*pinned, int(f)))

    def set_pinned(self, features: tuple[int, ...] | list[int]) -> None:
        self.pinned = tuple(dict.fromkeys(int(f) for f in features))[-MAX_PINNED:]
        self.pins_changed.emit(self.pinned)

    def select(self, f: int) -> None:
        """Show feature ``f`` in the dashboard (top logits are computed on the worker when no dictionary has them)."""
        cat = self.model.catalog
        if cat is None or not 0 <= f < cat.d_sae:
            return
        self.selected = int(f)
        self.viewed = tuple(dict.fromkeys((*self.viewed, int(f))))[-MAX_VIEWED:]
        self.selected_changed.emit(int(f))
        if cat.entry(f) is None:
            self._logits.start(logits_job(int(f)), on_done=self._on_logits)

    def _on_logits(self, result: FeatureLogits | None) -> None:
        if result is not None:
            self.logits.emit(result)

    def inspect_token(self, ev: TokenEvent) -> None:
        """Show one token's strongest features (hover or click in the chat)."""
        self.inspected = ev
        self.token_inspected.emit(ev)

    def color_by(self, f: int | None) -> None:
        cat, info = self.model.catalog, self.model.info
        if f is None or cat is None or info is None:
            self.color = None
        else:
            vmax = float(cat.max_activation[f]) if info.has_stats(f) and cat.max_activation is not None \
                else float(cat.conv_max[f])
            self.color = ColorBy(int(f), vmax if vmax > 0 else 1.0, cat.label(f))
        self.color_changed.emit(self.color)

    def watched(self) -> tuple[int, ...]:
        """Features whose activation every token reports for the plots: the pinned ones and the colour feature."""
        color = (self.color.feature,) if self.color is not None else ()
        return tuple(dict.fromkeys((*self.pinned, *color)))

    def set_label(self, f: int, text: str) -> Path | None:
        """Save a user label for ``f`` (an empty text restores the automatic one); returns the file or None."""
        cat = self.model.catalog
        if cat is None:
            return None
        try:
            path = cat.set_label(f, text)
        except OSError as e:
            self.notices.report_error("Could not save the label", str(e))
            return None
        self.notices.set_status(f"Label saved to {path}")
        self.labels_changed.emit(f)
        return path
