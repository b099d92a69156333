"""The toy lab's jobs on a plain job thread: thinned snapshots with the window's mean loss, read-only arrays,
progress mapped onto the job, the outcome's summary, and cancelling during the slow-motion pause."""

import time

import numpy as np
import pytest
import torch

from desktop_sae.app.messages import JobCancelled, JobDone, JobPartial, JobProgress
from desktop_sae.app.toy_jobs import superposition_job, toy_sae_job
from desktop_sae.core.classroom.toy.superposition import ToyConfig, ToySnapshot, train_toy
from desktop_sae.core.classroom.toy.toy_sae import ToySAEConfig, ToySAESnapshot

torch.set_num_threads(1)


def _run(runner, fn, timeout=60.0, cancel_after_partials=None):
    job, msgs, end = runner.submit("toy", fn), [], time.monotonic() + timeout
    while time.monotonic() < end:
        m = runner.outbox.get(timeout=timeout)
        msgs.append(m)
        if cancel_after_partials and sum(isinstance(x, JobPartial) for x in msgs) == cancel_after_partials:
            runner.cancel(job)
        if isinstance(m, (JobDone, JobCancelled)):
            return msgs
    raise TimeoutError(msgs)


def test_superposition_job_sends_every_25th_snapshot_with_the_mean_loss(runner):
    cfg = ToyConfig(n=5, sparsity=0.9, steps=110, seed=2)
    msgs = _run(runner, superposition_job(cfg, every=25))
    snaps = [m.payload for m in msgs if isinstance(m, JobPartial)]
    assert [s.step for s in snaps] == [25, 50, 75, 100, 110] and all(isinstance(s, ToySnapshot) for s in snaps)
    assert all(not s.W.flags.writeable for s in snaps)
    ref = train_toy(cfg)  # deterministic: the same losses, averaged per window
    assert snaps[0].loss == pytest.approx(ref.losses[:25].mean()) and snaps[-1].loss == pytest.approx(
        ref.losses[100:].mean()
    )
    assert [m.fraction for m in msgs if isinstance(m, JobProgress)] == pytest.approx(
        [25 / 110, 50 / 110, 75 / 110, 100 / 110, 1.0]
    )
    out = msgs[-1].result
    assert np.array_equal(out.result.W, ref.W) and out.summary.endswith(("superposition", "(dense data)"))


def test_toy_sae_job_reports_both_trainings_in_one_progress(runner):
    toy, sae = ToyConfig(n=5, sparsity=0.95, steps=50), ToySAEConfig(latents=10, steps=50)
    msgs = _run(runner, toy_sae_job(toy, sae, every=25))
    kinds = [type(m.payload) for m in msgs if isinstance(m, JobPartial)]
    assert kinds == [ToySnapshot, ToySnapshot, ToySAESnapshot, ToySAESnapshot]
    assert [m.fraction for m in msgs if isinstance(m, JobProgress)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert isinstance(msgs[-1], JobDone) and len(msgs[-1].result.sae.recovery.best_cosine) == 5


def test_cancel_during_the_slow_motion_pause(runner):
    t0 = time.monotonic()
    msgs = _run(runner, superposition_job(ToyConfig(steps=1500), pace_s=5.0), cancel_after_partials=1)
    assert isinstance(msgs[-1], JobCancelled) and time.monotonic() - t0 < 4.0  # did not sit out the 5 s pause
    assert sum(isinstance(m, JobPartial) for m in msgs) == 1
