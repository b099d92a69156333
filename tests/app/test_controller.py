"""The Qt-free app layer: job runner (progress, partial results, cancel, newest wins, errors) and the controller
(load, chat, steering, presets, swapping the SAE), driven on a plain thread as a lesson or script would."""

import threading
import time

import pytest

import tiny
from desktop_sae.app.controller import Controller
from desktop_sae.app.messages import JobCancelled, JobDone, JobFailed, JobPartial, JobProgress
from desktop_sae.app.state import LoadRequest
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.presets.store import PresetStore


def _drain(runner, until, timeout=20.0):
    msgs, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            m = runner.outbox.get(timeout=0.05)
        except Exception:  # noqa: BLE001
            continue
        msgs.append(m)
        if until(m):
            return msgs
    raise TimeoutError(msgs)


def test_a_long_job_reports_progress_and_partials_and_cancels_mid_way(runner):
    steps_done = []

    def long_job(session, state):
        for i in range(10_000):
            if state.cancelled():
                return i
            state.progress(i / 10_000, f"step {i}")
            state.partial(i)
            steps_done.append(i)
            time.sleep(0.002)
        return "finished"

    jid = runner.submit("train", long_job)
    msgs = _drain(runner, lambda m: isinstance(m, JobPartial) and m.payload >= 20)
    assert all(m.job_id == jid for m in msgs)
    assert [m.fraction for m in msgs if isinstance(m, JobProgress)] == sorted(
        m.fraction for m in msgs if isinstance(m, JobProgress)
    )
    t0 = time.monotonic()
    runner.cancel(jid)
    end = _drain(runner, lambda m: isinstance(m, (JobCancelled, JobDone, JobFailed)))[-1]
    assert isinstance(end, JobCancelled) and 20 <= end.result < 10_000
    assert time.monotonic() - t0 < 1.0  # honoured at the next step
    assert len(steps_done) == end.result


def test_newest_job_of_a_kind_wins_and_other_kinds_run(runner):
    gate = threading.Event()

    def slow(session, state):
        while not state.cancelled():
            gate.wait(0.01)
        return "stopped"

    a = runner.submit("generate", slow)
    b = runner.submit("logits", lambda s, st: 42)
    c = runner.submit("generate", lambda s, st: "newest")
    ends = {}
    _drain(runner, lambda m: isinstance(m, (JobDone, JobCancelled)) and ends.setdefault(m.job_id, m) and len(ends) == 3)
    assert isinstance(ends[a], JobCancelled) and ends[b].result == 42 and ends[c].result == "newest"


def test_an_exception_becomes_a_message_and_the_thread_lives_on(runner):
    def boom(session, state):
        raise RuntimeError("simulated failure")

    runner.submit("x", boom)
    end = _drain(runner, lambda m: isinstance(m, (JobDone, JobFailed)))[-1]
    assert isinstance(end, JobFailed) and "simulated failure" in end.message
    runner.submit("x", lambda s, st: "alive")
    assert _drain(runner, lambda m: isinstance(m, JobDone))[-1].result == "alive"


def test_messages_are_frozen():
    import dataclasses

    m = JobProgress(1, "load", 0.5, "half")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.fraction = 1.0


# --- the controller ----------------------------------------------------------------------------------------------
@pytest.fixture
def make_controller(runner, tmp_path, tiny_sae_dir):
    def make(delay=0.0, sae_dir=None):
        ctl = Controller(
            runner, loader=tiny.make_loader(sae_dir or tiny_sae_dir, delay), store=PresetStore(tmp_path / "p")
        )
        ctl.load(LoadRequest())
        ctl.wait_until(lambda: ctl.state.ready or ctl.state.last_error, 60, "the model")
        assert ctl.state.ready, ctl.state.last_error
        return ctl

    return make


def test_chat_streams_tokens_and_keeps_the_conversation(make_controller):
    ctl = make_controller()
    ctl.set_sampling(SamplingConfig(seed=3, max_new_tokens=8))
    seen, finished = [], []
    ctl.token.connect(seen.append)
    ctl.answer_finished.connect(lambda turn, res: finished.append(turn))
    assert ctl.send("hello there")
    assert ctl.state.busy
    ctl.wait_until(lambda: not ctl.state.busy, 30)
    answer = [e for e in seen if not e.is_prompt]
    assert answer and finished[0].content == "".join(e.delta for e in answer)
    assert [t.role for t in ctl.state.turns] == ["user", "assistant"]
    assert finished[0].events["main"] == tuple(answer)
    assert ctl.send("and again")
    ctl.wait_until(lambda: not ctl.state.busy, 30)
    assert [m["role"] for m in ctl.state.messages()] == ["user", "assistant", "user", "assistant"]


def test_stop_keeps_the_partial_answer(make_controller):
    ctl = make_controller(delay=0.01)
    ctl.set_sampling(SamplingConfig(seed=1, max_new_tokens=2000, temperature=1.0))
    ctl.send("go on")
    ctl.wait_until(lambda: len(ctl.stream.get("main", ())) >= 5, 20)
    ctl.stop()
    ctl.wait_until(lambda: not ctl.state.busy, 5)
    last = ctl.state.turns[-1]
    assert last.role == "assistant" and last.stop_reason == "cancelled" and 5 <= len(last.events["main"]) < 500


def test_a_failing_answer_is_reported_and_regenerate_retries(make_controller, runner):
    ctl = make_controller()
    ctl.set_sampling(SamplingConfig(seed=1, max_new_tokens=5))
    runner.session.fail_next = RuntimeError("simulated failure in the worker")
    ctl.send("first")
    ctl.wait_until(lambda: not ctl.state.busy, 20)
    assert "simulated failure" in ctl.state.last_error and ctl.state.turns[-1].role == "error"
    assert ctl.regenerate()
    ctl.wait_until(lambda: not ctl.state.busy, 20)
    assert [t.role for t in ctl.state.turns] == ["user", "assistant"]


def test_loading_a_second_sae_swaps_it_and_steering_uses_it(make_controller, tmp_path):
    ctl = make_controller()
    first = ctl.state.info
    ctl.steer(5, 4.0)
    other = tiny.save_tiny_sae(tmp_path / "other-sae", d_sae=128, seed=7)
    loaded = []
    ctl.model_loaded.connect(loaded.append)
    ctl.load_sae(str(other))
    ctl.wait_idle(30)
    assert loaded and ctl.state.info.d_sae == 128 and ctl.state.info is not first
    assert ctl.state.steering.features == ()  # old feature ids mean nothing for the new SAE
    ctl.set_sampling(SamplingConfig(seed=2, temperature=0.0, max_new_tokens=8))
    ctl.send("the bridge")
    ctl.wait_until(lambda: not ctl.state.busy, 20)
    plain = ctl.state.last_answer()
    ctl.steer(100, 40.0)  # exists only in... the new SAE has 128 features
    ctl.rerun()
    ctl.wait_until(lambda: not ctl.state.busy, 20)
    assert ctl.state.last_answer() != plain


def test_a_mismatched_sae_is_refused_and_the_old_one_stays(make_controller, tmp_path):
    ctl = make_controller()
    before = ctl.state.info
    wrong = tiny.save_tiny_sae(tmp_path / "wrong-width", d_in=32)
    ctl.load_sae(str(wrong))
    ctl.wait_idle(30)
    assert ctl.state.info is before and ctl.state.ready
    assert "d_in=32" in ctl.state.last_error


def test_presets_round_trip_through_the_controller(make_controller):
    ctl = make_controller()
    ctl.steer(3, 4.5, "clamp")
    ctl.steer(17, -2.0)
    ctl.set_enabled(17, False)
    ctl.set_multiplier(0.75)
    ctl.set_sampling(SamplingConfig(temperature=0.9, top_p=0.8, seed=99, max_new_tokens=33))
    ctl.set_system("Answer like a pirate.")
    before = (ctl.state.steering, ctl.state.sampling, ctl.state.system)
    path = ctl.save_preset("Pirate mode")
    ctl.clear_steering()
    ctl.set_sampling(SamplingConfig())
    ctl.set_system("")
    assert ctl.load_preset(path)
    assert (ctl.state.steering, ctl.state.sampling, ctl.state.system) == before


def test_a_strength_sweep_adds_one_answer_per_strength(make_controller):
    from desktop_sae.core.steering.specs import SteerSpec

    ctl = make_controller()
    ctl.set_sampling(SamplingConfig(seed=4, temperature=0.0, max_new_tokens=6))
    assert ctl.sweep("the bridge", SteerSpec(7, 0.0, "max", "add", True, "seven"), (0, 20, 40)) is not None
    assert ctl.state.busy
    ctl.wait_until(lambda: not ctl.state.busy, 30)
    turns = ctl.state.turns
    assert [t.role for t in turns] == ["user", "assistant"] * 3
    assert "at 0×" in turns[0].content and "at 40×" in turns[4].content
    assert ctl.state.steering.features == ()  # the sweep used its own steering
    ctl.clear()
    ctl.send("the bridge")
    ctl.wait_until(lambda: not ctl.state.busy, 30)
    assert ctl.state.turns[-1].content == turns[1].content  # strength 0 = the unsteered answer, same seed


def test_a_steering_vector_steers_saves_in_a_preset_and_wrong_widths_are_refused(make_controller):
    import numpy as np

    from desktop_sae.core.steering.vectors import SteeringVector
    from desktop_sae.core.support.errors import SteeringError

    ctl = make_controller()
    d_in = ctl.state.info.d_in
    ctl.set_sampling(SamplingConfig(seed=2, temperature=0.0, max_new_tokens=8))
    ctl.send("the bridge")
    ctl.wait_until(lambda: not ctl.state.busy, 20)
    plain = ctl.state.last_answer()
    v = SteeringVector.from_array("random direction", np.random.default_rng(0).normal(size=d_in) * 10)
    spec = ctl.steer_vector(v, 8.0)
    assert spec.feature == -1 and ctl.steer_vector(v, 0.0).feature == -2
    ctl.unsteer(-2)
    ctl.rerun()
    ctl.wait_until(lambda: not ctl.state.busy, 20)
    assert ctl.state.last_answer() != plain
    before = ctl.state.steering
    with pytest.raises(SteeringError, match="dimensions"):
        ctl.steer_vector(SteeringVector.from_array("short", np.ones(d_in - 1)))
    assert ctl.state.steering == before  # nothing applied
    path = ctl.save_preset("vector")
    ctl.clear_steering()
    assert ctl.load_preset(path) and ctl.state.steering == before
