"""The controller: a thin facade that builds the sub-models, wires them to each other and drives the job queue.

What the user is doing lives in the sub-models, each the one way its state changes: ``model`` (the loaded model
and SAE), ``conversation``, ``steering``, ``features`` (pins, selection, colour), ``presets``, ``notices`` (status
and errors) and ``jobs``. Widgets take the sub-model they render; lessons, the screenshot command and tests drive
the same sub-models. Everything runs on one thread (the GUI thread in the app) and never blocks: job results
arrive when that thread calls ``poll()`` (a timer in the app, ``wait_until`` in scripts and tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .conversation import Conversation
from .feature_focus import FeatureFocus
from .job_handles import Jobs
from .jobs import JobRunner
from .loading import Loader, ModelInfo
from .model_slot import ModelSlot
from .notices import Notices
from .preset_actions import PresetActions
from .steering_model import SteeringModel
from .timers import PollTimer, Timer

if TYPE_CHECKING:
    from ..core.presets.store import PresetStore


class Controller:
    def __init__(self, runner: JobRunner, *, loader: Loader | None = None, store: PresetStore | None = None,
                 timer: Timer | None = None):
        """``timer``: the steering debounce timer (the window passes a QTimer; default: one that fires in
        ``poll``)."""
        self.runner = runner
        self.jobs = Jobs(runner)
        self.notices = Notices()
        self.timer: Timer = timer if timer is not None else PollTimer()
        self.model = ModelSlot(self.jobs, self.notices, loader)
        self.steering = SteeringModel(self.model, self.notices, self.timer)
        self.features = FeatureFocus(self.model, self.jobs, self.notices)
        self.conversation = Conversation(self.jobs, self.model, self.steering, self.features, self.notices)
        self.presets = PresetActions(self.model, self.steering, self.conversation, self.notices, self.jobs, store)
        self.model.loaded.connect(self._on_loaded)

    def _on_loaded(self, _info: ModelInfo) -> None:
        # feature ids mean nothing across SAEs: steering, pins and colour start afresh (the conversation stays)
        self.conversation.events.clear()
        self.features.reset_for_new_sae()
        self.steering.reset_for_new_sae()

    # --- driving the queue (app thread) --------------------------------------------------------------------------
    def poll(self, budget_s: float = 0.008) -> None:
        """Deliver the worker's messages, and fire a poll-driven debounce timer that is due."""
        self.jobs.poll(budget_s)
        if isinstance(self.timer, PollTimer):
            self.timer.fire_due()

    def wait_until(self, cond: Callable[[], bool], timeout: float = 60.0, what: str = "the app") -> None:
        """Poll until ``cond()`` (scripts and tests without a Qt event loop)."""
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out waiting for {what}")
            self.poll(0.05)
            time.sleep(0.002)

    def wait_idle(self, timeout: float = 60.0) -> None:
        self.wait_until(lambda: not self.jobs.outstanding, timeout, "the running jobs")
