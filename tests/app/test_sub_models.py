"""The app driven through its sub-models alone (no Qt, no window): send, steer, a slider change that re-runs with
auto-rerun on, and the same re-run when a lesson changes steering. The debounce timer is the test's: it fires when
the test says the user has stopped moving."""

import json

import pytest

from desktop_sae.app.conversation import Role
from desktop_sae.app.lesson_runner import LessonRunner
from desktop_sae.core.classroom.lessons import parse_lesson
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.presets.demo_concepts import DemoConcept
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from steer_direction import answer_events, assert_steered_towards


def _answer(ctl, text="the bridge"):
    assert ctl.conversation.send(text)
    ctl.wait_until(lambda: not ctl.conversation.busy, 30, "the answer")
    return ctl.conversation.last_answer()


def _generate_jobs(ctl):
    jobs = []
    ctl.jobs.submitted.connect(lambda h: h.kind == "generate" and jobs.append(h))
    return jobs


def test_send_and_steer_through_the_sub_models(ctl):
    conv, steering = ctl.conversation, ctl.steering
    conv.set_sampling(SamplingConfig(seed=2, temperature=0.0, max_new_tokens=8))
    plain = _answer(ctl)
    plain_events = answer_events(ctl)
    assert [t.role for t in conv.turns] == [Role.USER, Role.ASSISTANT]
    spec = steering.steer(7, 40.0, unit="raw")
    assert spec.feature == 7 and steering.config.active == (spec,)
    assert 7 in conv.watched()  # a steered feature's activation is reported on every token
    assert conv.rerun()
    ctl.wait_until(lambda: not conv.busy, 30)
    assert conv.last_answer() != plain and len(conv.turns) == 2  # answered again, in place of the old answer
    assert_steered_towards(ctl, answer_events(ctl), plain_events)  # towards feature 7, read back unsteered
    steering.set_strength(7, 0.0)
    assert conv.rerun()
    ctl.wait_until(lambda: not conv.busy, 30)
    assert conv.last_answer() == plain  # strength 0 is no steering: the same seed gives the same answer


def test_a_slider_change_reruns_once_the_debounce_runs_out_with_auto_rerun_on(ctl):
    conv, steering, timer = ctl.conversation, ctl.steering, ctl.timer
    conv.set_sampling(SamplingConfig(seed=2, temperature=0.0, max_new_tokens=8))
    plain = _answer(ctl)
    plain_events = answer_events(ctl)
    jobs = _generate_jobs(ctl)
    steering.steer(7, 0.0, unit="raw")
    assert not timer.active  # auto-rerun is off: a change arms nothing
    steering.set_auto_rerun(True)
    for s in (10.0, 20.0, 40.0):  # a drag: every move re-arms the debounce
        steering.set_strength(7, s)
    assert timer.active and timer.ms == steering.debounce_ms and jobs == []
    assert timer.fire()  # the user stopped moving
    assert len(jobs) == 1 and conv.busy
    ctl.wait_until(lambda: not conv.busy, 30)
    assert conv.last_answer() != plain and [t.role for t in conv.turns] == [Role.USER, Role.ASSISTANT]
    assert_steered_towards(ctl, answer_events(ctl), plain_events)  # the final value of the drag, its way
    steering.set_multiplier(1.0)  # no change at all: nothing to re-run
    assert not timer.active
    steering.set_auto_rerun(False)
    steering.set_strength(7, 0.0)
    assert not timer.active and len(jobs) == 1


def test_the_debounce_does_not_answer_twice_when_the_answer_already_uses_the_steering(ctl):
    conv, steering, timer = ctl.conversation, ctl.steering, ctl.timer
    conv.set_sampling(SamplingConfig(seed=2, temperature=0.0, max_new_tokens=6))
    steering.set_auto_rerun(True)
    steering.steer(7, 30.0, unit="raw")
    jobs = _generate_jobs(ctl)
    _answer(ctl)  # asked after the change: this answer already uses it
    assert timer.fire() and len(jobs) == 1  # so the debounce re-runs nothing
    assert not timer.fire()  # and fires once


def _lesson(steer_step: dict) -> dict:
    return {"schema": 1, "id": "t", "title": "T", "summary": "s",
            "level": "beginner", "est_minutes": 1, "steps": [
                {"title": "Ask", "narration": "<p>ask</p>", "prompt": "the bridge", "action": "run"},
                {"title": "Turn it up", "narration": "<p>steer</p>", **steer_step}]}


def test_a_lesson_that_changes_steering_reruns_the_answer_with_auto_rerun_on(ctl, tmp_path):
    conv, steering, timer = ctl.conversation, ctl.steering, ctl.timer
    conv.set_sampling(SamplingConfig(seed=2, temperature=0.0, max_new_tokens=8))
    f = tmp_path / "t.json"
    f.write_text(json.dumps(_lesson({"steer": [{"concept": "bridge", "strength": 8.0}]})))
    lesson = parse_lesson(f.read_bytes(), f.name, concepts={"bridge"}, presets=())
    demo = {"bridge": DemoConcept("bridge", 7, "Bridges", 2.0, "max", "add", ((7, 1.0), (9, 0.5)))}
    runner = LessonRunner(ctl, lesson, demo=demo)
    steering.set_auto_rerun(True)
    runner.start()  # step 1 asks its prompt
    ctl.wait_until(lambda: not conv.busy, 30)
    plain, plain_events = conv.last_answer(), answer_events(ctl)
    assert not timer.fire()  # step 1 changed no steering
    jobs = _generate_jobs(ctl)
    runner.next()  # step 2 steers the concept's set and asks nothing itself
    assert [(r.feature, r.strength) for r in steering.config.features] == [(7, 8.0), (9, 4.0)] and jobs == []
    assert timer.fire()
    assert len(jobs) == 1
    ctl.wait_until(lambda: not conv.busy, 30)
    assert conv.last_answer() != plain and [t.content for t in conv.turns][0] == "the bridge"
    assert_steered_towards(ctl, answer_events(ctl), plain_events)  # towards the concept's set
    runner.stop()  # the user's own (empty) steering comes back
    assert steering.config.features == ()


def test_steering_is_refused_before_anything_changes(ctl):
    from desktop_sae.core.support.errors import SteeringError

    before = ctl.steering.config
    with pytest.raises(SteeringError, match="does not exist"):
        ctl.steering.set_steering(SteeringConfig((SteerSpec(3, 1.0), SteerSpec(10**6, 1.0))))
    assert ctl.steering.config == before and not ctl.timer.active
