"""The Qt-free app layer: job runner (progress, partial results, cancel, newest wins, errors) and the sub-models
(load, chat, steering, presets, swapping the SAE), driven on a plain thread as a lesson or script would."""

import threading
import time

import pytest

import tiny
from desktop_sae.app.controller import Controller
from desktop_sae.app.loading import LoadRequest
from desktop_sae.app.messages import JobCancelled, JobDone, JobFailed, JobPartial, JobProgress
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.presets.store import PresetStore
from steer_direction import answer_events, assert_steered_towards


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
    runner.cancel(jid)
    at_cancel = len(steps_done)  # the flag is set once cancel() returns; counted, not timed
    end = _drain(runner, lambda m: isinstance(m, (JobCancelled, JobDone, JobFailed)))[-1]
    assert isinstance(end, JobCancelled) and 20 <= end.result <= at_cancel + 1  # honoured at the next step
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
        ctl.model.load(LoadRequest())
        ctl.wait_until(lambda: ctl.model.ready or ctl.notices.last_error, 60, "the model")
        assert ctl.model.ready, ctl.notices.last_error
        return ctl

    return make


def test_chat_streams_tokens_and_keeps_the_conversation(make_controller):
    ctl = make_controller()
    ctl.conversation.set_sampling(SamplingConfig(seed=3, max_new_tokens=8))
    seen, finished = [], []
    ctl.conversation.token.connect(seen.append)
    ctl.conversation.answer_finished.connect(lambda turn, res: finished.append(turn))
    assert ctl.conversation.send("hello there")
    assert ctl.conversation.busy
    ctl.wait_until(lambda: not ctl.conversation.busy, 30)
    answer = [e for e in seen if not e.is_prompt]
    assert answer and finished[0].content == "".join(e.delta for e in answer)
    assert [t.role for t in ctl.conversation.turns] == ["user", "assistant"]
    assert finished[0].events["main"] == tuple(answer)
    assert ctl.conversation.send("and again")
    ctl.wait_until(lambda: not ctl.conversation.busy, 30)
    assert [m["role"] for m in ctl.conversation.messages()] == ["user", "assistant", "user", "assistant"]


def test_stop_keeps_the_partial_answer(make_controller):
    """Stop ends the answer before the next token, counted on the worker's side (not timed: the wait only guards
    against a hang; ignoring Stop would take the 2000 tokens 20 s), and the answer keeps every token made."""
    ctl = make_controller(delay=0.01)
    made, generate = [], ctl.runner.session.generate

    def counting(*a, on_token=None, **kw):
        return generate(*a, on_token=lambda e: (made.append(e) if not e.is_prompt else None, on_token(e)), **kw)

    ctl.runner.session.generate = counting
    ctl.conversation.set_sampling(SamplingConfig(seed=1, max_new_tokens=2000, temperature=1.0))
    ctl.conversation.send("go on")
    ctl.wait_until(lambda: len(ctl.conversation.stream.get("main", ())) >= 5, 20)
    ctl.conversation.stop()
    at_stop = len(made)  # the cancel flag is set once stop() returns
    ctl.wait_until(lambda: not ctl.conversation.busy, 15)
    last = ctl.conversation.turns[-1]
    assert last.role == "assistant" and last.stop_reason == "cancelled"
    assert 5 <= len(last.events["main"]) <= at_stop + 1, (len(last.events["main"]), at_stop)  # none begun after Stop
    assert list(last.events["main"]) == made


def test_a_failing_answer_is_reported_and_regenerate_retries(make_controller, runner):
    ctl = make_controller()
    ctl.conversation.set_sampling(SamplingConfig(seed=1, max_new_tokens=5))
    runner.session.fail_next = RuntimeError("simulated failure in the worker")
    ctl.conversation.send("first")
    ctl.wait_until(lambda: not ctl.conversation.busy, 20)
    assert "simulated failure" in ctl.notices.last_error and ctl.conversation.turns[-1].role == "error"
    assert ctl.conversation.regenerate()
    ctl.wait_until(lambda: not ctl.conversation.busy, 20)
    assert [t.role for t in ctl.conversation.turns] == ["user", "assistant"]


def test_loading_a_second_sae_swaps_it_and_steering_uses_it(make_controller, tmp_path):
    ctl = make_controller()
    first = ctl.model.info
    ctl.steering.steer(5, 4.0)
    other = tiny.save_tiny_sae(tmp_path / "other-sae", d_sae=128, seed=7)
    loaded = []
    ctl.model.loaded.connect(loaded.append)
    ctl.model.load_sae(str(other))
    ctl.wait_idle(30)
    assert loaded and ctl.model.info.d_sae == 128 and ctl.model.info is not first
    assert ctl.steering.config.features == ()  # old feature ids mean nothing for the new SAE
    ctl.conversation.set_sampling(SamplingConfig(seed=2, temperature=0.0, max_new_tokens=8))
    ctl.conversation.send("the bridge")
    ctl.wait_until(lambda: not ctl.conversation.busy, 20)
    plain, plain_events = ctl.conversation.last_answer(), answer_events(ctl)
    ctl.steering.steer(100, 40.0)  # exists only in... the new SAE has 128 features
    ctl.conversation.rerun()
    ctl.wait_until(lambda: not ctl.conversation.busy, 20)
    assert ctl.conversation.last_answer() != plain
    assert_steered_towards(ctl, answer_events(ctl), plain_events)  # towards feature 100, read back unsteered


def test_a_mismatched_sae_is_refused_and_the_old_one_stays(make_controller, tmp_path):
    ctl = make_controller()
    before = ctl.model.info
    wrong = tiny.save_tiny_sae(tmp_path / "wrong-width", d_in=32)
    ctl.model.load_sae(str(wrong))
    ctl.wait_idle(30)
    assert ctl.model.info is before and ctl.model.ready
    assert "d_in=32" in ctl.notices.last_error


def test_presets_round_trip_through_the_controller(make_controller):
    ctl = make_controller()
    ctl.steering.steer(3, 4.5, "clamp")
    ctl.steering.steer(17, -2.0)
    ctl.steering.set_enabled(17, False)
    ctl.steering.set_multiplier(0.75)
    ctl.conversation.set_sampling(SamplingConfig(temperature=0.9, top_p=0.8, seed=99, max_new_tokens=33))
    ctl.conversation.set_system("Answer like a pirate.")
    before = (ctl.steering.config, ctl.conversation.sampling, ctl.conversation.system)
    path = ctl.presets.save("Pirate mode")
    ctl.steering.clear()
    ctl.conversation.set_sampling(SamplingConfig())
    ctl.conversation.set_system("")
    assert ctl.presets.load(path)
    assert (ctl.steering.config, ctl.conversation.sampling, ctl.conversation.system) == before


def test_a_strength_sweep_adds_one_answer_per_strength(make_controller):
    from desktop_sae.core.steering.specs import SteerSpec

    ctl = make_controller()
    ctl.conversation.set_sampling(SamplingConfig(seed=4, temperature=0.0, max_new_tokens=6))
    assert ctl.conversation.sweep("the bridge", (SteerSpec(7, 0.0, "max", "add", True, "seven"),), (0, 20, 40))
    assert ctl.conversation.busy
    ctl.wait_until(lambda: not ctl.conversation.busy, 30)
    turns = ctl.conversation.turns
    assert [t.role for t in turns] == ["user", "assistant"] * 3
    assert "at 0×" in turns[0].content and "at 40×" in turns[4].content
    assert ctl.steering.config.features == ()  # the sweep used its own steering
    ctl.conversation.clear()
    ctl.conversation.send("the bridge")
    ctl.wait_until(lambda: not ctl.conversation.busy, 30)
    assert ctl.conversation.turns[-1].content == turns[1].content  # strength 0 = the unsteered answer, same seed


def test_a_steering_vector_steers_saves_in_a_preset_and_wrong_widths_are_refused(make_controller):
    import numpy as np

    from desktop_sae.core.steering.vectors import SteeringVector
    from desktop_sae.core.support.errors import SteeringError

    ctl = make_controller()
    d_in = ctl.model.info.d_in
    ctl.conversation.set_sampling(SamplingConfig(seed=2, temperature=0.0, max_new_tokens=8))
    ctl.conversation.send("the bridge")
    ctl.wait_until(lambda: not ctl.conversation.busy, 20)
    plain, plain_events = ctl.conversation.last_answer(), answer_events(ctl)
    v = SteeringVector.from_array("random direction", np.random.default_rng(0).normal(size=d_in) * 10)
    spec = ctl.steering.steer_vector(v, 8.0)
    assert spec.feature == -1 and ctl.steering.steer_vector(v, 0.0).feature == -2
    ctl.steering.unsteer(-2)
    ctl.conversation.rerun()
    ctl.wait_until(lambda: not ctl.conversation.busy, 20)
    assert ctl.conversation.last_answer() != plain
    assert_steered_towards(ctl, answer_events(ctl), plain_events)  # along the vector, read back unsteered
    before = ctl.steering.config
    with pytest.raises(SteeringError, match="dimensions"):
        ctl.steering.steer_vector(SteeringVector.from_array("short", np.ones(d_in - 1)))
    assert ctl.steering.config == before  # nothing applied
    path = ctl.presets.save("vector")
    ctl.steering.clear()
    assert ctl.presets.load(path) and ctl.steering.config == before
