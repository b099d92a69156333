"""Jobs for the toy lab: ``fn(session, state)`` functions that train the core toy models on the inference thread.

Each job ignores the language-model session. Snapshots go out with ``state.partial`` (arrays made read-only, so the
GUI thread can keep them); ``pace_s`` sleeps after each snapshot so a classroom can watch the training unfold
("slow motion"); cancelling is honoured between steps and during the pause.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..core.toy.describe import describe_geometry
from ..core.toy.rainbow import RainbowConfig, RainbowResult, train_rainbow
from ..core.toy.sae import ToySAEConfig, ToySAEResult, train_toy_sae
from ..core.toy.superposition import Geometry, ToyConfig, ToyResult, geometry, train_toy

SNAPSHOT_EVERY = 25  # training steps between two snapshots (60 frames for the default 1500 steps)


@dataclass(frozen=True)
class SuperpositionOutcome:
    result: ToyResult
    geometry: Geometry
    summary: str


@dataclass(frozen=True)
class ToySAEOutcome:
    toy: ToyResult
    geometry: Geometry
    sae: ToySAEResult


def _read_only(snap):
    for v in vars(snap).values():
        if hasattr(v, "setflags"):
            v.setflags(write=False)
    return snap


def _pause(seconds: float, cancelled) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not cancelled():
        time.sleep(min(0.01, max(0.0, end - time.monotonic())))


def _poster(state, pace_s: float):
    def post(snap) -> None:
        state.partial(_read_only(snap))
        if pace_s > 0:
            _pause(pace_s, state.cancelled)

    return post


def _scaled(state, lo: float, hi: float):
    return lambda f, msg: state.progress(lo + (hi - lo) * f, msg)


def superposition_job(cfg: ToyConfig, pace_s: float = 0.0, every: int = SNAPSHOT_EVERY):
    """Train the toy model; partials are ``ToySnapshot``s; the result a ``SuperpositionOutcome``."""
    cfg.validate()

    def fn(_session, state) -> SuperpositionOutcome:
        r = train_toy(
            cfg, progress=state.progress, partial=_poster(state, pace_s), cancelled=state.cancelled, every=every
        )
        g = geometry(r.W)
        return SuperpositionOutcome(r, g, describe_geometry(g, cfg.n, cfg.m, cfg.sparsity))

    return fn


def toy_sae_job(toy: ToyConfig, sae: ToySAEConfig, pace_s: float = 0.0, every: int = SNAPSHOT_EVERY):
    """Train the toy model (first half of the progress), then an SAE on its hidden vectors (second half).
    Partials are the toy's ``ToySnapshot``s, then the SAE's ``ToySAESnapshot``s; the result a ``ToySAEOutcome``."""
    toy.validate()
    sae.validate()

    def fn(_session, state) -> ToySAEOutcome:
        post = _poster(state, pace_s)
        r = train_toy(toy, progress=_scaled(state, 0.0, 0.5), partial=post, cancelled=state.cancelled, every=every)
        s = train_toy_sae(
            r.W, toy, sae, progress=_scaled(state, 0.5, 1.0), partial=post, cancelled=state.cancelled, every=every
        )
        return ToySAEOutcome(r, geometry(r.W), s)

    return fn


def rainbow_job(cfg: RainbowConfig = RainbowConfig()):
    """Train the 3-unit bottleneck and the wide sparse layer on the spectrum; the result a ``RainbowResult``."""
    cfg.validate()

    def fn(_session, state) -> RainbowResult:
        return train_rainbow(cfg, progress=state.progress, cancelled=state.cancelled)

    return fn
