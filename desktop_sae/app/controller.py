"""The controller: the one way anything changes the app — widgets, lessons, the screenshot command and tests call
its actions; it updates ``AppState``, submits jobs to the runner and tells subscribers what changed.

It runs on one thread (the GUI thread in the app) and never blocks: job results arrive when that thread calls
``poll()`` (a timer in the app, ``wait_until`` in scripts and tests).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .events import Signal
from .feature_actions import FeatureActions
from .jobs import JobRunner
from .messages import JobCancelled, JobDone, JobFailed, JobMessage, JobPartial, JobProgress, JobStarted
from .presets import PresetActions
from .state import AppState, LoadRequest, ModelInfo, Turn
from .steering import SteeringActions
from .tasks import generate_job, load_job, load_sae_job, sweep_job


@dataclass
class _Hooks:
    kind: str
    on_progress: Callable | None = None
    on_partial: Callable | None = None
    on_done: Callable | None = None  # (result) on success
    on_failed: Callable | None = None  # (message)
    on_cancelled: Callable | None = None  # (partial result or None)


class Controller(SteeringActions, PresetActions, FeatureActions):
    def __init__(self, runner: JobRunner, *, loader=None, store=None):
        self.runner = runner
        self.loader = loader
        self._store = store
        self.state = AppState()
        self.events: dict[tuple[str, int], Any] = {}  # (run, index) -> TokenEvent, for hover and click
        self.stream: dict[str, list] = {}  # the answer being generated: run -> its TokenEvents so far
        self.pending_preset: str | None = None
        self._jobs: dict[int, _Hooks] = {}
        self._answer_job: int | None = None
        s = Signal
        # model and jobs
        self.load_progress, self.model_loaded, self.ready_changed = s("load_progress"), s("model_loaded"), s("ready")
        self.job_submitted, self.job_progress, self.job_finished = (
            s("job_submitted"),
            s("job_progress"),
            s("job_finished"),
        )
        # conversation
        self.conversation_reset, self.turn_added = s("conversation_reset"), s("turn_added")
        self.answer_started, self.token, self.answer_finished = s("answer_started"), s("token"), s("answer_finished")
        self.busy_changed = s("busy")
        # settings of the next answer
        self.steering_changed, self.sampling_changed = s("steering"), s("sampling")
        self.system_changed, self.compare_changed = s("system"), s("compare")
        # features
        self.pins_changed, self.feature_selected, self.color_changed = s("pins"), s("selected"), s("color")
        self.labels_changed, self.logits, self.token_inspected = s("labels"), s("logits"), s("token_inspected")
        # messages for the user
        self.status, self.error = s("status"), s("error")

    # --- jobs ---------------------------------------------------------------------------------------------------
    def run_job(
        self,
        kind: str,
        fn,
        *,
        on_progress=None,
        on_partial=None,
        on_done=None,
        on_failed=None,
        on_cancelled=None,
        exclusive: bool = True,
    ) -> int:
        """Run ``fn(session, state)`` on the inference thread; the callbacks run here, in ``poll``."""
        job_id = self.runner.submit(kind, fn, exclusive=exclusive)
        self._jobs[job_id] = _Hooks(kind, on_progress, on_partial, on_done, on_failed, on_cancelled)
        self.job_submitted.emit(job_id)
        return job_id

    def cancel_job(self, job_id: int | None = None, kind: str | None = None) -> None:
        self.runner.cancel(job_id, kind)

    @property
    def outstanding(self) -> bool:
        """Jobs whose final message has not been delivered yet (the app polls only while this is true)."""
        return bool(self._jobs)

    def poll(self, budget_s: float = 0.008) -> None:
        """Deliver the runner's messages; stops after ``budget_s`` so a burst cannot freeze the window."""
        t_end = time.perf_counter() + budget_s
        while True:
            try:
                msg = self.runner.outbox.get_nowait()
            except queue.Empty:
                return
            self._dispatch(msg)
            if time.perf_counter() >= t_end:
                return

    def _dispatch(self, msg: JobMessage) -> None:
        hooks = self._jobs.get(msg.job_id)
        if hooks is None:
            return
        if isinstance(msg, JobProgress):
            self.job_progress.emit(msg)
            if hooks.on_progress:
                hooks.on_progress(msg)
        elif isinstance(msg, JobPartial):
            if hooks.on_partial:
                hooks.on_partial(msg)
        elif isinstance(msg, JobStarted):
            pass
        else:
            del self._jobs[msg.job_id]
            fn = {JobDone: hooks.on_done, JobFailed: hooks.on_failed, JobCancelled: hooks.on_cancelled}[type(msg)]
            if fn:
                fn(msg)
            self.job_finished.emit(msg)

    def wait_until(self, cond: Callable[[], bool], timeout: float = 60.0, what: str = "the app") -> None:
        """Poll until ``cond()`` (scripts and tests without a Qt event loop)."""
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out waiting for {what}")
            self.poll(0.05)
            time.sleep(0.002)

    def wait_idle(self, timeout: float = 60.0) -> None:
        self.wait_until(lambda: not self.outstanding, timeout, "the running jobs")

    # --- messages -----------------------------------------------------------------------------------------------
    def set_status(self, text: str) -> None:
        self.state.status = text
        self.status.emit(text)

    def report_error(self, title: str, message: str) -> None:
        """Tell the user; the app state stays as it was."""
        self.state.last_error = message
        self.set_status(f"{title}: {message}")
        self.error.emit(title, message)

    # --- model and SAE ------------------------------------------------------------------------------------------
    def load(self, req: LoadRequest = LoadRequest()) -> int:
        """Load a model and SAE (at start, or another pair later); the current pair stays until it is ready."""
        self.stop()
        self.set_status("Loading the model…")
        return self.run_job(
            "load",
            load_job(req, self.loader),
            on_progress=self._on_load_progress,
            on_done=self._on_loaded,
            on_failed=self._on_load_failed,
            on_cancelled=lambda _m: self.set_status("Loading cancelled"),
        )

    def load_sae(self, path: str, hook: str | None = None) -> int:
        """Put another SAE on the loaded model; a mismatch is refused with a message and changes nothing."""
        self.stop()
        self.set_status(f"Loading SAE {path}…")
        return self.run_job(
            "load",
            load_sae_job(str(path), hook),
            on_progress=self._on_load_progress,
            on_done=self._on_loaded,
            on_failed=self._on_load_failed,
        )

    def _on_load_progress(self, msg: JobProgress) -> None:
        self.state.status = msg.message
        self.load_progress.emit(msg.fraction, msg.message)

    def _on_loaded(self, msg: JobDone) -> None:
        info: ModelInfo = msg.result
        if info is None:
            return
        st = self.state
        st.info = info
        # feature ids mean nothing across SAEs: steering, pins and colour start afresh (the conversation stays)
        st.pinned, st.selected, st.color, st.inspected = (), None, None, None
        self.events.clear()
        self._set_steering(replace(st.steering, features=()))
        self.set_status(f"Ready ({info.load_seconds:.1f} s)" + "".join(f" · warning: {w}" for w in info.warnings))
        self.model_loaded.emit(info)
        self.pins_changed.emit(st.pinned)
        self.color_changed.emit(None)
        self._set_ready(True)
        if self.pending_preset:
            path, self.pending_preset = self.pending_preset, None
            self.load_preset(path)

    def _on_load_failed(self, msg: JobFailed) -> None:
        what = "the model" if msg.kind == "load" and self.state.info is None else "it"
        self.report_error("Could not load " + what, msg.message)
        if self.state.info is None:
            self._set_ready(False)

    def _set_ready(self, ready: bool) -> None:
        self.state.ready = ready
        self.ready_changed.emit(ready)

    # --- conversation -------------------------------------------------------------------------------------------
    def send(self, text: str) -> bool:
        text = text.strip()
        if not text or not self.state.ready or self.state.busy:
            return False
        self._add_turn(Turn("user", text))
        self._start_answer()
        return True

    def regenerate(self) -> bool:
        if not self.state.ready or self.state.busy or not self._pop_last_answer():
            return False
        self._start_answer()
        return True

    def rerun(self) -> bool:
        """Answer the last message again now (after a steering change): the newest request wins, cancelling one
        in flight."""
        if not self.state.ready or not self._pop_last_answer():
            return False
        self._start_answer()
        return True

    def sweep(self, prompt: str, spec, strengths) -> int | None:
        """Ask ``prompt`` once per strength of ``spec`` (a SteerSpec, or a tuple of them scaled together; same seed);
        each answer joins the conversation as it comes."""
        lead = spec[0] if isinstance(spec, tuple) else spec
        if not self.state.ready or self.state.busy:
            return None
        self.clear()
        self._set_busy(True)
        self.set_status("Sweeping strengths…")
        st = self.state

        def add(msg):
            s, text = msg.payload
            self._add_turn(Turn("user", f"{prompt}   [{lead.label or '#' + str(lead.feature)} at {s:g}×]"))
            self._add_turn(Turn("assistant", text))

        def done(_msg):
            self._set_busy(False)
            self.set_status(f"Sweep done: {len(strengths)} strengths")

        job = sweep_job(
            prompt, st.system.strip() or None, st.sampling, spec, tuple(strengths), st.steering.skip_special
        )
        return self.run_job(
            "generate",
            job,
            on_partial=add,
            on_done=done,
            on_cancelled=done,
            on_failed=lambda m: (done(m), self.report_error("The sweep failed", m.message)),
        )

    def stop(self) -> None:
        if self.state.busy:
            self.runner.cancel(kind="generate")
            self.set_status("Stopping…")

    def clear(self) -> None:
        self.stop()
        self._answer_job = None
        self._set_busy(False)
        self.state.turns = ()
        self.events.clear()
        self.stream = {}
        if self.state.catalog is not None:
            self.state.catalog.reset_conversation()
        self.conversation_reset.emit()

    def _add_turn(self, turn: Turn) -> None:
        self.state.turns = (*self.state.turns, turn)
        self.turn_added.emit(turn)

    def _pop_last_answer(self) -> bool:
        """Drop the last answer (and any error after it); True when a user message is then last."""
        turns = list(self.state.turns)
        while turns and turns[-1].role in ("assistant", "error"):
            turns.pop()
        self.state.turns = tuple(turns)
        self.conversation_reset.emit()
        return bool(turns) and turns[-1].role == "user"

    def watched(self) -> tuple[int, ...]:
        """Features whose activation every token reports: pinned, the colour feature and the steered ones."""
        st = self.state
        color = (st.color.feature,) if st.color is not None else ()
        steered = tuple(s.feature for s in st.steering.active if not s.is_vector)
        return tuple(dict.fromkeys((*st.pinned, *color, *steered)))

    def _start_answer(self) -> None:
        st = self.state
        runs, watch = st.runs(), self.watched()
        self.stream = {r: [] for r in runs}
        self._set_busy(True)
        self.set_status("Generating…")
        self.answer_started.emit(runs, watch)
        job = generate_job(tuple(st.messages()), st.system.strip() or None, st.sampling, st.steering, watch, st.compare)
        self._answer_job = self.run_job(
            "generate",
            job,
            on_partial=self._on_token,
            on_done=self._on_answer,
            on_failed=self._on_answer_failed,
            on_cancelled=self._on_answer,
        )

    def _set_busy(self, busy: bool) -> None:
        if self.state.busy != busy:
            self.state.busy = busy
            self.busy_changed.emit(busy)

    def _on_token(self, msg: JobPartial) -> None:
        if msg.job_id != self._answer_job:
            return
        ev = msg.payload
        self.events[(ev.run, ev.index)] = ev
        if not ev.is_prompt:
            self.stream.setdefault(ev.run, []).append(ev)
            if self.state.catalog is not None:
                self.state.catalog.observe(ev)
        self.token.emit(ev)

    def _on_answer(self, msg: JobDone | JobCancelled) -> None:
        if msg.job_id != self._answer_job:
            return
        self._answer_job = None
        results = msg.result or {}
        main = results.get("main") or results.get("steered")
        if main is None:  # stopped before the first token
            self._set_busy(False)
            self.set_status("Stopped")
            self.answer_finished.emit(None, None)
            return
        default = results.get("default")
        turn = Turn(
            "assistant",
            main.text,
            default.text if default else "",
            {r: tuple(evs) for r, evs in self.stream.items()},
            main.stop_reason,
        )
        self.stream = {}
        self.state.turns = (*self.state.turns, turn)
        self._set_busy(False)
        extra = " · default answer alongside (same seed)" if default else ""
        self.set_status(f"{len(main.answer_ids)} tokens in {main.seconds:.1f} s, stop: {main.stop_reason}{extra}")
        self.answer_finished.emit(turn, main)

    def _on_answer_failed(self, msg: JobFailed) -> None:
        if msg.job_id != self._answer_job:
            return
        self._answer_job = None
        self.stream = {}
        self.state.last_error = msg.message
        self._set_busy(False)
        self._add_turn(Turn("error", msg.message))  # the user message stays, so Regenerate can retry
        self.set_status(f"Error: {msg.message}")

    # --- settings of the next answer ----------------------------------------------------------------------------
    def set_sampling(self, cfg) -> None:
        cfg = cfg.validate()
        if cfg != self.state.sampling:
            self.state.sampling = cfg
            self.sampling_changed.emit(cfg)

    def set_system(self, text: str) -> None:
        if text != self.state.system:
            self.state.system = text
            self.system_changed.emit(text)

    def set_compare(self, on: bool) -> None:
        if bool(on) != self.state.compare:
            self.state.compare = bool(on)
            self.compare_changed.emit(self.state.compare)

    def set_auto_rerun(self, on: bool) -> None:
        self.state.auto_rerun = bool(on)
