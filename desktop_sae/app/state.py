"""What the user is doing, as plain data: the conversation, steering, sampling, pins and the loaded model/SAE.

The controller owns one ``AppState`` and is the only code that changes it; widgets read it and subscribe to the
controller's signals. Turns are frozen; the conversation list and the state's fields are replaced, not mutated
in place, by the controller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..core.engine.models import ModelDescription
from ..core.engine.sampling import SamplingConfig
from ..core.sae.autoencoder import SAEDescription
from ..core.steering.specs import NO_STEERING, SteeringConfig


@dataclass(frozen=True)
class LoadRequest:
    model: str | None = None  # None: the bundled model
    device: str | None = None
    dtype: str | None = None
    sae: str | None = None  # a path, 'none', or None = the bundled SAE (with the bundled model)
    hook: str | None = None
    trust_remote_code: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """The loaded model and SAE as the app shows them (a read-only snapshot made on the worker thread)."""

    model: ModelDescription
    sae: SAEDescription | None
    sae_path: str | None
    d_sae: int = 0
    d_in: int | None = None  # the SAE's input width (steering vectors must match it)
    max_activation: np.ndarray | None = None
    mean_activation: np.ndarray | None = None
    density: np.ndarray | None = None
    dec_norms: np.ndarray | None = None
    typical_norm: float | None = None
    identity: Any = None  # core.presets.SAEIdentity
    dictionary: Any = None  # the feature dictionary that ships with the SAE, if any
    catalog: Any = None  # core FeatureCatalog, built off the GUI thread
    warnings: tuple[str, ...] = ()
    load_seconds: float = 0.0

    def has_stats(self, f: int) -> bool:
        m = self.max_activation
        return m is not None and 0 <= f < len(m) and bool(np.isfinite(m[f])) and float(m[f]) > 0


EMPTY: Mapping[str, tuple] = MappingProxyType({})


@dataclass(frozen=True)
class Turn:
    role: str  # 'user' | 'assistant' | 'error'
    content: str
    default: str = ""  # side by side: the default (unsteered) answer from the same seed
    events: Mapping[str, tuple] = field(
        default_factory=lambda: EMPTY
    )  # assistant turns: run -> the answer's TokenEvents
    stop_reason: str = ""


@dataclass(frozen=True)
class ColorBy:
    feature: int
    vmax: float
    label: str = ""


@dataclass
class AppState:
    turns: tuple[Turn, ...] = ()
    steering: SteeringConfig = NO_STEERING
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    system: str = ""
    compare: bool = False
    auto_rerun: bool = False
    pinned: tuple[int, ...] = ()
    selected: int | None = None
    color: ColorBy | None = None
    inspected: Any = None  # the TokenEvent shown in the token view
    viewed: tuple[int, ...] = ()  # features whose dashboard was opened (for the session report)
    info: ModelInfo | None = None
    ready: bool = False
    busy: bool = False  # an answer is being generated
    status: str = ""
    last_error: str | None = None

    @property
    def catalog(self):
        return self.info.catalog if self.info is not None else None

    def messages(self) -> list[dict]:
        """The conversation as the model sees it (errors are shown, not sent)."""
        return [{"role": t.role, "content": t.content} for t in self.turns if t.role in ("user", "assistant")]

    def runs(self) -> tuple[str, ...]:
        return ("steered", "default") if self.compare else ("main",)

    def last_answer(self, run: str = "main") -> str:
        for t in reversed(self.turns):
            if t.role == "assistant":
                return t.default if run == "default" else t.content
        return ""

    def label(self, f: int) -> str:
        cat = self.catalog
        return cat.label(f) if cat is not None and 0 <= f < cat.d_sae else ""
