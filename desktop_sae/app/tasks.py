"""The app's jobs: load a model and SAE, swap the SAE, generate (plain or side by side), feature logits.

Each builder returns a job function ``fn(session, state)`` for the ``JobRunner``; everything it hands back is an
immutable snapshot (frozen dataclasses, read-only numpy arrays) safe to read on the app thread.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.support.errors import DesktopSAEError
from .state import LoadRequest, ModelInfo

Loader = Callable[..., Any]  # (LoadRequest, progress(fraction|None, message), cancelled() -> bool) -> core Session


class NotReady(DesktopSAEError):
    pass


def leave_a_core_for_the_ui() -> None:
    """Decode with one thread fewer than the machine has (unless OMP_NUM_THREADS says otherwise): the GUI
    thread keeps a core, and on small shared machines oversubscribed OpenMP threads decode many times slower."""
    import torch

    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1)))


def default_loader(req: LoadRequest, progress, cancelled=None) -> Any:
    from ..core.assets.opening import open_session

    leave_a_core_for_the_ui()
    return open_session(
        req.model,
        req.sae,
        req.hook,
        device=req.device,
        dtype=req.dtype,
        trust_remote_code=req.trust_remote_code,
        progress=progress,
        cancelled=cancelled,
        top_k_features=32,
    )


def load_job(req: LoadRequest, loader: Loader | None = None):
    """Load a model (and SAE) into a new session; the old one stays in use until this one is complete."""
    loader = loader or default_loader

    def fn(_session, state):
        t0 = time.perf_counter()
        session = loader(req, state.progress, state.cancelled)
        info = model_info(session, time.perf_counter() - t0)
        state.set_session(session)
        return info

    return fn


def load_sae_job(path: str, hook: str | None = None):
    """Put another SAE on the loaded model. A mismatch (width, hook point) raises before anything changes."""

    def fn(session, state):
        from ..core.engine.session import Session
        from ..core.sae.formats import load_sae

        if session is None:
            raise NotReady("load a model first")
        t0 = time.perf_counter()
        state.progress(None, f"Loading SAE {os.path.basename(os.path.normpath(path))}")
        new = Session(session.lm, top_k_features=session.top_k_features)
        new.attach_sae(load_sae(path), hook)
        if state.cancelled():
            return None
        state.progress(0.7, "Reading the feature dictionary")
        info = model_info(new, time.perf_counter() - t0)
        state.set_session(new)
        return info

    return fn


def generate_job(
    messages: tuple[dict, ...], system: str | None, sampling, steering, watch: tuple[int, ...], compare: bool
):
    """One answer (``{"main": result}``) or, side by side, the steered and the default answer from one seed."""

    def fn(session, state):
        if session is None:
            raise NotReady("the model is not loaded yet")
        kw = dict(system=system, watch=watch, on_token=state.partial, cancel=state.cancelled)
        msgs = [dict(m) for m in messages]
        if compare:
            steered, default = session.compare(msgs, sampling, steering, **kw)
            return {"steered": steered, "default": default}
        return {"main": session.generate(msgs, sampling, steering, **kw)}

    return fn


def logits_job(feature: int, n: int = 10):
    def fn(session, _state):
        from ..core.features.readout import feature_logits

        if session is None or session.sae is None or not 0 <= feature < session.sae.cfg.d_sae:
            return None
        return feature_logits(session, feature, n)

    return fn


def _readonly(a) -> np.ndarray | None:
    if a is None:
        return None
    a = np.array(a, np.float32)
    a.setflags(write=False)
    return a


def model_info(session, seconds: float) -> ModelInfo:
    """The snapshot the app shows: model and SAE descriptions, statistics and the feature catalog."""
    from ..core.features.catalog import FeatureCatalog
    from ..core.features.readout import load_dictionary
    from ..core.presets.demo_concepts import demo_feature_labels
    from ..core.presets.identity import sae_identity

    sae = session.sae
    if sae is None:
        return ModelInfo(session.lm.describe(), None, None, warnings=tuple(session.warnings), load_seconds=seconds)
    stats = sae.stats
    ident = sae_identity(sae, session.hook_name)
    dictionary = load_dictionary(sae.source_path)
    catalog = FeatureCatalog(
        int(sae.cfg.d_sae),
        stats.max_activation if stats else None,
        stats.density if stats else None,
        stats.mean_activation if stats else None,
        dictionary,
        sae.source_path,
        ident,
        curated_labels=demo_feature_labels(sae.source_path),
    )
    return ModelInfo(
        model=session.lm.describe(),
        sae=replace(sae.describe(), hook=session.hook_name or ""),
        sae_path=sae.source_path,
        d_sae=int(sae.cfg.d_sae),
        d_in=int(sae.cfg.d_in),
        max_activation=_readonly(stats.max_activation) if stats else None,
        mean_activation=_readonly(stats.mean_activation) if stats else None,
        density=_readonly(stats.density) if stats else None,
        dec_norms=_readonly(sae.W_dec.detach().float().norm(dim=-1).cpu().numpy()),
        typical_norm=session.typical_norm,
        identity=ident,
        dictionary=dictionary,
        catalog=catalog,
        warnings=tuple(session.warnings),
        load_seconds=seconds,
    )


def rows_at(specs, s: float) -> tuple:
    """Steering rows at strength ``s``: one spec gets ``s``; a weighted set (a demo concept's rows) keeps its
    proportions, the first row getting ``s``."""
    from dataclasses import replace

    specs = (specs,) if not isinstance(specs, tuple) else specs
    lead = specs[0].strength or 1.0
    if len(specs) == 1:
        return (replace(specs[0], strength=float(s)),)
    return tuple(replace(r, strength=float(s) * r.strength / lead) for r in specs)


def sweep_job(prompt: str, system: str | None, sampling, spec, strengths, skip_special: bool = True):
    """The same question at each strength of one steering spec, or of a weighted set of them (same seed): one
    partial (strength, text) each."""

    def fn(session, state):
        from ..core.steering.specs import SteeringConfig

        if session is None:
            raise NotReady("the model is not loaded yet")
        out = []
        for i, s in enumerate(strengths):
            if state.cancelled():
                break
            state.progress(i / len(strengths), f"Strength {s:g}×")
            steering = SteeringConfig(rows_at(spec, s), skip_special=skip_special)
            res = session.generate(
                [{"role": "user", "content": prompt}], sampling, steering, system=system, cancel=state.cancelled
            )
            out.append((float(s), res.text))
            state.partial(out[-1])
        return tuple(out)

    return fn
