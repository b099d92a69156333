"""The guards every job submitter relies on, written once: a handle gets only its own job's messages; a replaced
job's late messages reach nobody (``JobSlot``); a gone receiver is never called (``alive``), for job callbacks and
for signals alike."""

import threading

from desktop_sae.app.events import Signal
from desktop_sae.app.job_handles import Jobs, JobSlot, JobStatus
from desktop_sae.app.messages import JobKind
from desktop_sae.app.timers import ManualTimer, PollTimer


def _wait(jobs, cond, timeout=20.0):
    import time

    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        jobs.poll(0.05)
        time.sleep(0.002)


def test_a_handle_delivers_progress_partials_and_the_result_of_its_own_job(runner):
    jobs = Jobs(runner)
    got = {"progress": [], "partial": [], "done": []}

    def job(_session, state):
        for i in range(3):
            state.progress(i / 3, f"step {i}")
            state.partial(i)
        return "result"

    other = jobs.submit(JobKind.LOGITS, lambda s, st: (st.partial("not mine"), "other")[1])
    h = jobs.submit(JobKind.SWEEP, job, on_progress=lambda f, m: got["progress"].append((f, m)),
                    on_partial=got["partial"].append, on_done=got["done"].append)
    _wait(jobs, lambda: h.finished and other.finished)
    assert got["partial"] == [0, 1, 2] and got["done"] == ["result"]
    assert [m for _f, m in got["progress"]] == ["step 0", "step 1", "step 2"]
    assert h.status == JobStatus.DONE and not jobs.outstanding


def test_a_replaced_job_in_a_slot_delivers_nothing_more(runner):
    jobs = Jobs(runner)
    slot = JobSlot(jobs, JobKind.SWEEP)
    release, seen = threading.Event(), []

    def slow(_session, state):
        state.partial("old 1")
        release.wait(5)
        state.partial("old 2")  # arrives after the slot moved on
        return "old result"

    first = slot.start(slow, on_partial=seen.append, on_done=seen.append, on_cancelled=seen.append)
    _wait(jobs, lambda: seen == ["old 1"])
    second = slot.start(lambda s, st: "new result", on_done=seen.append)
    release.set()
    _wait(jobs, lambda: first.finished and second.finished)
    assert seen == ["old 1", "new result"]  # nothing of the replaced job after the switch, not even its cancel
    assert first.status == JobStatus.CANCELLED and not first.attached


def test_a_receiver_that_is_gone_is_never_called(runner):
    jobs = Jobs(runner)
    alive, seen = [True], []
    h = jobs.submit(JobKind.SPAN, lambda s, st: (st.partial(1), "done")[1], on_partial=seen.append,
                    on_done=seen.append, alive=lambda: alive[0])
    alive[0] = False  # the dialog closed before anything arrived
    _wait(jobs, lambda: h.finished)
    assert seen == [] and h.status == JobStatus.DONE

    sig, calls = Signal("x"), []
    living = [True]
    sig.connect(calls.append, alive=lambda: living[0])
    sig.connect(lambda v: calls.append(("always", v)))
    sig.emit(1)
    living[0] = False
    sig.emit(2)
    assert calls == [1, ("always", 1), ("always", 2)] and len(sig) == 1  # the dead listener was dropped


def test_timers_fire_once_when_due():
    clock = [0.0]
    t = PollTimer(clock=lambda: clock[0])
    fired = []
    t.start(300, lambda: fired.append(clock[0]))
    t.fire_due()
    clock[0] = 0.29
    t.fire_due()
    t.start(300, lambda: fired.append(clock[0]))  # re-armed: the wait starts again
    clock[0] = 0.5
    t.fire_due()
    clock[0] = 0.6
    t.fire_due()
    t.fire_due()
    assert fired == [0.6] and not t.active
    m = ManualTimer()
    assert not m.fire()
    m.start(10, lambda: fired.append("manual"))
    assert m.active and m.fire() and not m.fire() and fired[-1] == "manual"
