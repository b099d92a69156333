"""A job runner on a plain thread (no Qt), shut down and joined after each test; a controller with the tiny model
and SAE loaded on it, its steering debounce on a timer the test fires itself."""

import pytest

import tiny
from desktop_sae.app.controller import Controller
from desktop_sae.app.jobs import JobRunner
from desktop_sae.app.loading import LoadRequest
from desktop_sae.app.timers import ManualTimer
from desktop_sae.core.presets.store import PresetStore


@pytest.fixture
def runner():
    r = JobRunner()
    r.start_thread()
    yield r
    r.shutdown()
    r.thread.join(10)
    assert not r.thread.is_alive()


@pytest.fixture
def ctl(runner, tmp_path, tiny_sae_dir):
    c = Controller(runner, loader=tiny.make_loader(tiny_sae_dir), store=PresetStore(tmp_path / "p"),
                   timer=ManualTimer())
    c.model.load(LoadRequest())
    c.wait_until(lambda: c.model.ready or c.notices.last_error, 60, "the model")
    assert c.model.ready, c.notices.last_error
    return c
