"""The one long-lived inference thread: a worker QObject that owns the model, the SAE and the core Session.

Requests go in through queued signals (``InferenceClient`` emits them from the GUI thread); results come out
as immutable snapshots (frozen ``TokenEvent``s, numpy arrays, plain dicts). Every request carries an id; the
newest request wins: starting one cancels the one in flight (checked before every token) and requests that
were overtaken while queued are skipped. Errors come back as messages, never as exceptions across threads.

The worker never emits a Qt signal itself: it puts its messages on a thread-safe outbox that the client drains
on the GUI thread with a timer (every 15 ms while work is outstanding) and re-emits as signals there. A worker
thread that emits while holding the GIL can deadlock against the GUI thread holding one of Qt's pooled
signal-slot mutexes while waiting for the GIL (seen as a rare CI hang; napari and PySide report the same);
with the outbox the worker takes no Qt lock at all while it streams tokens.
"""

from __future__ import annotations

import itertools
import queue
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot



@dataclass(frozen=True)
class LoadRequest:
    model: str | None = None
    device: str | None = None
    dtype: str | None = None
    sae: str | None = None  # path, 'none', or None = bundled default (with the bundled model)
    hook: str | None = None
    trust_remote_code: bool = False


@dataclass(frozen=True)
class GenerateRequest:
    id: int
    messages: tuple[dict, ...]
    system: str | None
    sampling: Any  # core.generation.SamplingConfig (core imports are lazy: torch loads in the worker thread)
    steering: Any = None  # core.steering.SteeringConfig; None = no steering
    watch: tuple[int, ...] = ()
    compare: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI needs to know about the loaded model and SAE (read-only snapshot)."""

    model: dict
    sae: dict | None
    sae_path: str | None
    d_sae: int = 0
    max_activation: np.ndarray | None = None
    mean_activation: np.ndarray | None = None
    density: np.ndarray | None = None
    dec_norms: np.ndarray | None = None
    typical_norm: float | None = None
    identity: Any = None  # core.presets.SAEIdentity
    dictionary: Any = None  # a feature dictionary object, if one ships with the SAE
    catalog: Any = None  # gui.feature_data.FeatureCatalog, built off the GUI thread
    warnings: tuple[str, ...] = ()
    load_seconds: float = 0.0


@dataclass(frozen=True)
class FeatureLogits:
    feature: int
    top: tuple[tuple[str, float], ...]
    bottom: tuple[tuple[str, float], ...]


Loader = Callable[..., Any]  # (LoadRequest, progress(fraction|None, message), cancelled() -> bool) -> core Session


def _leave_a_core_for_the_ui() -> None:
    """Decode with one thread fewer than the machine has (unless the user chose via OMP_NUM_THREADS): the GUI
    thread keeps a core, and on small shared machines oversubscribed OpenMP threads decode many times slower."""
    import os

    import torch

    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1)))


def default_loader(req: LoadRequest, progress, cancelled=None) -> Any:
    from ..core.session import open_session

    _leave_a_core_for_the_ui()
    return open_session(req.model, req.sae, req.hook, device=req.device, dtype=req.dtype,
                        trust_remote_code=req.trust_remote_code, progress=progress, cancelled=cancelled,
                        top_k_features=32)


class InferenceWorker(QObject):
    """Lives on the inference thread. Its messages go to ``outbox`` as tuples ``(kind, *args)``:
    ("loadProgress", fraction (-1 = unknown), message), ("loaded", ModelInfo), ("loadFailed", message),
    ("token", request id, TokenEvent), ("finished", request id, {run: GenerationResult}),
    ("failed", request id, message), ("logits", FeatureLogits), and ("done",) after every request."""

    def __init__(self, loader: Loader | None = None):
        super().__init__()
        self.loader = loader or default_loader
        self.session = None
        self.outbox: queue.SimpleQueue = queue.SimpleQueue()
        self.latest_id = 0  # written by the GUI thread before it queues a request
        self.cancel_upto = 0  # requests with id <= this are cancelled
        self._fault: Exception | None = None  # test hook: raised inside the next request
        self.closing = False

    def _post(self, *msg) -> None:
        self.outbox.put(msg)

    # --- slots (run on the worker thread) ----------------------------------------------------------------
    @Slot(object)
    def load(self, req: LoadRequest) -> None:
        try:
            self._load(req)
        finally:
            self._post("done")

    def _load(self, req: LoadRequest) -> None:
        def progress(frac, msg):
            self._post("loadProgress", -1.0 if frac is None else float(frac), str(msg))

        try:
            t0 = time.perf_counter()
            session = self.loader(req, progress, lambda: self.closing)
            info = self._info(session, time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001 - reported to the user
            self._post("loadFailed", _message(e))
            return
        self.session = session
        self._post("loaded", info)

    def _info(self, session, seconds: float) -> ModelInfo:
        from ..core.presets import demo_feature_labels, sae_identity

        sae = session.sae
        if sae is None:
            return ModelInfo(session.lm.describe(), None, None, warnings=tuple(session.warnings), load_seconds=seconds)
        from .feature_data import FeatureCatalog

        stats = sae.stats
        ident = sae_identity(sae, session.hook_name)
        dictionary = _load_dictionary(sae.source_path)
        catalog = FeatureCatalog(
            int(sae.cfg.d_sae), stats.max_activation if stats else None, stats.density if stats else None,
            stats.mean_activation if stats else None, dictionary, sae.source_path, ident,
            curated_labels=demo_feature_labels(sae.source_path),
        )
        ro = lambda a: None if a is None else _readonly(np.asarray(a, np.float32))  # noqa: E731
        return ModelInfo(
            model=session.lm.describe(),
            sae={**sae.describe(), "hook": session.hook_name},
            sae_path=sae.source_path,
            d_sae=int(sae.cfg.d_sae),
            max_activation=ro(stats.max_activation) if stats else None,
            mean_activation=ro(stats.mean_activation) if stats else None,
            density=ro(stats.density) if stats else None,
            dec_norms=ro(sae.W_dec.detach().float().norm(dim=-1).cpu().numpy()),
            typical_norm=session.typical_norm,
            identity=ident,
            dictionary=dictionary,
            catalog=catalog,
            warnings=tuple(session.warnings),
            load_seconds=seconds,
        )

    @Slot(object)
    def generate(self, req: GenerateRequest) -> None:
        try:
            self._generate(req)
        finally:
            self._post("done")

    def _generate(self, req: GenerateRequest) -> None:
        if req.id < self.latest_id or req.id <= self.cancel_upto:
            return  # overtaken while queued: drop silently (the GUI already moved on)
        if self.session is None:
            self._post("failed", req.id, "the model is not loaded yet")
            return
        cancel = lambda: req.id < self.latest_id or req.id <= self.cancel_upto  # noqa: E731
        emit = lambda e: self._post("token", req.id, e)  # noqa: E731
        try:
            if self._fault is not None:
                fault, self._fault = self._fault, None
                raise fault
            from ..core.steering import NO_STEERING

            steering = req.steering or NO_STEERING
            kw = dict(system=req.system, watch=req.watch, on_token=emit, cancel=cancel)
            msgs = [dict(m) for m in req.messages]
            if req.compare:
                steered, default = self.session.compare(msgs, req.sampling, steering, **kw)
                results = {"steered": steered, "default": default}
            else:
                results = {"main": self.session.generate(msgs, req.sampling, steering, **kw)}
        except Exception as e:  # noqa: BLE001 - any failure becomes a message; the thread lives on
            traceback.print_exc()
            self._post("failed", req.id, _message(e))
            return
        self._post("finished", req.id, results)

    @Slot(int, int)
    def feature_logits(self, feature: int, n: int = 10) -> None:
        try:
            self._feature_logits(feature, n)
        finally:
            self._post("done")

    def _feature_logits(self, feature: int, n: int) -> None:
        try:
            s = self.session
            if s is None or s.sae is None or not 0 <= feature < s.sae.cfg.d_sae:
                return
            import torch

            with torch.inference_mode():
                W_U = s.lm.model.get_output_embeddings().weight
                v = (W_U @ s.sae.W_dec[feature].to(W_U.device, W_U.dtype)).float().cpu()
            tok = s.lm.tokenizer
            hi, lo = v.topk(n), (-v).topk(n)
            top = tuple((tok.decode([int(i)]), float(x)) for x, i in zip(hi.values, hi.indices))
            bot = tuple((tok.decode([int(i)]), -float(x)) for x, i in zip(lo.values, lo.indices))
            self._post("logits", FeatureLogits(feature, top, bot))
        except Exception:  # noqa: BLE001 - optional extra; the detail view just shows none
            traceback.print_exc()


def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.setflags(write=False)
    return a


def _message(e: BaseException) -> str:
    from ..core.errors import DesktopSAEError

    if isinstance(e, DesktopSAEError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def _load_dictionary(sae_path: str | None):
    """The feature dictionary beside the SAE (core.training.dictionary), or None: the panel then degrades to
    ids + statistics."""
    if not sae_path:
        return None
    folder = Path(sae_path)
    folder = folder if folder.is_dir() else folder.parent
    try:
        from ..core.training.dictionary import FeatureDictionary

        return FeatureDictionary.load(folder) if FeatureDictionary.exists(folder) else None
    except Exception:  # noqa: BLE001 - missing module or damaged files
        traceback.print_exc()
        return None


class InferenceClient(QObject):
    """GUI-side handle: owns the thread, numbers requests, drops stale results, re-emits current ones."""

    _load = Signal(object)
    _generate = Signal(object)
    _logits = Signal(int, int)

    loadProgress = Signal(float, str)
    loaded = Signal(object)
    loadFailed = Signal(str)
    token = Signal(object)  # TokenEvent of the current request
    finished = Signal(object)  # {run: GenerationResult} of the current request
    failed = Signal(str)
    logits = Signal(object)

    def __init__(self, loader: Loader | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._ids = itertools.count(1)
        self.current_id = 0
        self.busy = False
        self.thread = QThread()
        self.thread.setObjectName("desktop-sae-inference")
        self.worker = InferenceWorker(loader)
        self.worker.moveToThread(self.thread)
        self.thread.finished.connect(self.worker.deleteLater)
        self._load.connect(self.worker.load)
        self._generate.connect(self.worker.generate)
        self._logits.connect(self.worker.feature_logits)
        self._outstanding = 0  # requests queued to the worker whose ("done",) has not been drained yet
        self._drain_timer = QTimer(self)
        self._drain_timer.setInterval(15)
        self._drain_timer.timeout.connect(self.drain)
        self._handlers = {
            "loadProgress": self.loadProgress.emit, "loaded": self.loaded.emit, "loadFailed": self.loadFailed.emit,
            "token": self._on_token, "finished": self._on_finished, "failed": self._on_failed,
            "logits": self.logits.emit,
        }
        self.thread.start()

    def _expect(self) -> None:
        self._outstanding += 1
        if not self._drain_timer.isActive():
            self._drain_timer.start()

    def drain(self, budget_s: float = 0.008) -> None:
        """Deliver the worker's queued messages as signals, on the GUI thread (called by the timer). Stops after
        ``budget_s`` so a long prompt's burst of token events cannot freeze the window; the rest go next tick."""
        box, t_end = self.worker.outbox, time.perf_counter() + budget_s
        while time.perf_counter() < t_end:
            try:
                kind, *args = box.get_nowait()
            except queue.Empty:
                break
            if kind == "done":
                self._outstanding -= 1
            else:
                self._handlers[kind](*args)
        if self._outstanding <= 0:
            self._drain_timer.stop()

    def load(self, req: LoadRequest) -> None:
        self._expect()
        self._load.emit(req)

    def submit(self, **kw) -> int:
        """Start a generation (cancels any in flight); returns its request id."""
        rid = next(self._ids)
        self.worker.latest_id = rid
        self.current_id = rid
        self.busy = True
        self._expect()
        self._generate.emit(GenerateRequest(id=rid, **kw))
        return rid

    def cancel(self) -> None:
        self.worker.cancel_upto = self.current_id

    def request_logits(self, feature: int) -> None:
        self._expect()
        self._logits.emit(int(feature), 10)

    def inject_fault(self, exc: Exception) -> None:
        """Make the next request fail with ``exc`` (used by the tests)."""
        self.worker._fault = exc

    def _on_token(self, rid: int, ev) -> None:
        if rid == self.current_id:
            self.token.emit(ev)

    def _on_finished(self, rid: int, results) -> None:
        if rid == self.current_id:
            self.busy = False
            self.finished.emit(results)

    def _on_failed(self, rid: int, msg: str) -> None:
        if rid == self.current_id:
            self.busy = False
            self.failed.emit(msg)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel, quit and wait. Returns True when the thread has stopped."""
        self.worker.closing = True
        self.worker.cancel_upto = 1 << 62
        self.worker.latest_id = 1 << 62
        self._drain_timer.stop()
        self.thread.quit()
        return self.thread.wait(timeout_ms)
