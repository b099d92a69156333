"""A job runner on a plain thread (no Qt), shut down and joined after each test."""

import pytest

from desktop_sae.app.jobs import JobRunner


@pytest.fixture
def runner():
    r = JobRunner()
    r.start_thread()
    yield r
    r.shutdown()
    r.thread.join(10)
    assert not r.thread.is_alive()
