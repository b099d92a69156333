"""Loading a model and SAE on the worker: the request, the jobs, and ``ModelInfo``, the read-only snapshot of the
loaded pair that the app thread reads (descriptions, statistics, the feature catalog)."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..core.remote.target import Target, Transport
from ..core.support.errors import DesktopSAEError, RemoteModelError

if TYPE_CHECKING:  # torch loads on the worker, after the window shows: none of these at import time
    from ..core.engine.models import ModelDescription
    from ..core.engine.session import Session
    from ..core.explanations.shown import ShownExplanations
    from ..core.features.catalog import FeatureCatalog
    from ..core.features.dictionary import FeatureDictionary
    from ..core.presets.file_format import SAEIdentity
    from ..core.sae.autoencoder import SAEDescription
    from .jobs import JobState

ProgressFn = Callable[[float | None, str], None]
Loader = Callable[["LoadRequest", ProgressFn, Callable[[], bool]], "Session"]
log = logging.getLogger(__name__)


class NotReadyError(DesktopSAEError):
    """A job needs a model (or an SAE) that is not loaded."""


def loaded(session: Session | None) -> Session:
    """The session a job runs on; ``NotReadyError`` while no model is loaded."""
    if session is None:
        raise NotReadyError("the model is not loaded yet")
    return session


def with_sae(session: Session | None, job: str, weights: bool = False) -> Session:
    """The session of a ``job`` that reads features ("the contrastive finder"); ``NotReadyError`` without a model
    or an SAE, and (``weights``: a job that reads the model's weights) for a model on NDIF."""
    if loaded(session).sae is None:
        raise NotReadyError(f"{job} needs an SAE: open one (File > Open SAE…)")
    assert session is not None
    return with_weights(session, job) if weights else session


def with_weights(session: Session | None, job: str) -> Session:
    """The session of a ``job`` that reads the model's weights here; ``NotReadyError`` for a model whose weights
    stay on NDIF's servers."""
    s = loaded(session)
    if not s.weights_here:
        raise NotReadyError(f"{job} reads the model's weights, which stay on NDIF's servers: it runs on a model "
                            f"opened in this process (File > Open model…, or through nnsight in this process)")
    return s


@dataclass(frozen=True)
class LoadRequest:
    model: str | None = None  # None: the bundled model
    device: str | None = None
    dtype: str | None = None
    sae: str | None = None  # a path, 'none', or None = the bundled SAE (with the bundled model)
    hook: str | None = None
    trust_remote_code: bool = False
    # None: the app's own engine. Otherwise the model runs through nnsight: ``model`` in this process
    # (Transport.IN_PROCESS), or ``remote.model_id`` on NDIF (its key is kept out of repr)
    remote: Target | None = None


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
    identity: SAEIdentity | None = None
    dictionary: FeatureDictionary | None = None  # the feature dictionary that ships with the SAE, if any
    catalog: FeatureCatalog | None = None  # built off the GUI thread
    explained: ShownExplanations | None = None  # explanations.json and their scores beside the SAE
    warnings: tuple[str, ...] = ()
    load_seconds: float = 0.0

    def has_stats(self, f: int) -> bool:
        m = self.max_activation
        return m is not None and 0 <= f < len(m) and bool(np.isfinite(m[f])) and float(m[f]) > 0

    def dec_norm(self, f: int) -> float | None:
        d = self.dec_norms
        return float(d[f]) if d is not None and 0 <= f < len(d) else None


def leave_a_core_for_the_ui() -> None:
    """Decode with one thread fewer than the machine has (unless OMP_NUM_THREADS says otherwise): the GUI
    thread keeps a core, and on small shared machines oversubscribed OpenMP threads decode many times slower."""
    import torch

    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1)))


TOP_K_FEATURES = 32  # the features a token's readout keeps, in the app


def default_loader(req: LoadRequest, progress: ProgressFn, cancelled: Callable[[], bool]) -> Session:
    from ..core.assets.opening import open_session

    leave_a_core_for_the_ui()
    return open_session(req.model, req.sae, req.hook, device=req.device, dtype=req.dtype,
                        trust_remote_code=req.trust_remote_code, progress=progress, cancelled=cancelled,
                        top_k_features=TOP_K_FEATURES)


@contextlib.contextmanager
def transformers_engine() -> Iterator[None]:
    """Models opened inside load with transformers, not the lite engine (nnsight wraps a transformers model)."""
    from ..core.engine.lite.choice import ENGINE_ENV

    before = os.environ.get(ENGINE_ENV)
    os.environ[ENGINE_ENV] = "transformers"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENGINE_ENV, None)
        else:
            os.environ[ENGINE_ENV] = before


def remote_loader(req: LoadRequest, progress: ProgressFn, cancelled: Callable[[], bool]) -> Session:
    """An ``NnsightSession`` for ``req.remote`` (docs/REMOTE.md). On NDIF: the key and the server are checked
    first (a missing key fails at once, no network within seconds), then the model's config and tokenizer are read
    from the hub; the SAE (``req.sae``, a path or none) is read here. In this process: ``req.model`` opened as the
    app opens any model (bundled SAE included), with transformers, on the CPU in float32 unless ``req.device`` and
    ``req.dtype`` say otherwise (the nnsight session reads the SAE in float32)."""
    from ..core.remote.nnsight_session import NnsightSession

    target = req.remote
    if target is None:
        raise ValueError("remote_loader opens nnsight models; this request has no remote target")
    if target.transport is Transport.NDIF:
        from ..core.remote.ndif_link import open_ndif
        from ..core.sae.formats import load_sae

        progress(None, f"Opening {target.model_id} on NDIF ({target.host})")
        try:
            run = open_ndif(target)
        except RemoteModelError as e:
            raise RemoteModelError(target.hide_key(str(e))) from None
        sae = load_sae(req.sae) if req.sae and req.sae.lower() != "none" else None
        if sae is not None:
            progress(None, f"Attaching SAE {os.path.basename(os.path.normpath(req.sae or ''))}")
        return NnsightSession(run, sae, req.hook, TOP_K_FEATURES)
    from ..core.assets.opening import open_session
    from ..core.remote.ndif_link import wrap_local

    leave_a_core_for_the_ui()
    with transformers_engine():
        local = open_session(req.model, req.sae, req.hook, device=req.device or "cpu", dtype=req.dtype or "float32",
                             trust_remote_code=req.trust_remote_code, progress=progress, cancelled=cancelled,
                             top_k_features=TOP_K_FEATURES)
    lm = local.lm
    run = wrap_local(lm.model, lm.tokenizer, Target(lm.name, target.transport))
    return NnsightSession(run, local.sae, local.hook_name, local.top_k_features)


def load_job(req: LoadRequest, loader: Loader | None = None) -> Callable[[Session | None, JobState], ModelInfo]:
    """Load a model (and SAE) into a new session; the old one stays in use until this one is complete. A request
    with a remote target opens through nnsight (``remote_loader``), whatever ``loader`` the app was given."""
    load = remote_loader if req.remote is not None else (loader or default_loader)

    def fn(_session: Session | None, state: JobState) -> ModelInfo:
        t0 = time.perf_counter()
        session = load(req, state.progress, state.cancelled)
        info = model_info(session, time.perf_counter() - t0)
        state.set_session(session)
        return info

    return fn


def load_sae_job(path: str, hook: str | None = None) -> Callable[[Session | None, JobState], ModelInfo | None]:
    """Put another SAE on the loaded model. A mismatch (width, hook point) raises before anything changes."""

    def fn(session: Session | None, state: JobState) -> ModelInfo | None:
        from ..core.sae.formats import load_sae

        session = loaded(session)
        t0 = time.perf_counter()
        state.progress(None, f"Loading SAE {os.path.basename(os.path.normpath(path))}")
        new = session.without_sae()  # the same class: an SAE on an nnsight model keeps it running through nnsight
        new.attach_sae(load_sae(path), hook)
        if state.cancelled():
            return None
        state.progress(0.7, "Reading the feature dictionary")
        info = model_info(new, time.perf_counter() - t0)
        state.set_session(new)
        return info

    return fn


def _readonly(a: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return None
    a = np.array(a, np.float32)
    a.setflags(write=False)
    return a


def model_info(session: Session, seconds: float) -> ModelInfo:
    """The snapshot the app shows: model and SAE descriptions, statistics and the feature catalog."""
    from ..core.explanations.catalogs import catalog_for
    from ..core.explanations.shown import ShownExplanations
    from ..core.features.user_labels import sae_folder
    from ..core.presets.identity import sae_identity

    sae = session.sae
    if sae is None:
        return ModelInfo(session.lm.describe(), None, None, warnings=tuple(session.warnings), load_seconds=seconds)
    stats = sae.stats
    ident = sae_identity(sae, session.hook_name)
    explained = ShownExplanations.beside(sae_folder(sae.source_path))
    for problem in explained.problems:
        log.warning("%s", problem)
    catalog = catalog_for(sae, sae.source_path, ident, explained)
    dictionary = catalog.dictionary
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
        explained=explained,
        warnings=(*session.warnings, *explained.problems),
        load_seconds=seconds,
    )
