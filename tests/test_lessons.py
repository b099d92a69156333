"""Lesson files: the shipped ones validate; malformed ones are refused naming the file, step and field."""

import copy
import json
import shutil
from pathlib import Path

import pytest

from desktop_sae.core.classroom.lessons import (
    ACTIONS,
    LessonError,
    known_concepts,
    known_presets,
    list_lessons,
    load_lesson,
    parse_lesson,
)
from desktop_sae.core.classroom.narration import check_narration

RES = Path(__file__).parents[1] / "resources"
LESSONS = RES / "lessons"
SHIPPED = {"black-boxes", "superposition", "finding-features", "steering", "tracing-a-thought"}

GOOD = {
    "schema": 1, "id": "steering", "title": "T", "summary": "S", "level": "beginner", "est_minutes": 10,
    "steps": [
        {"title": "Intro", "narration": "<p>Hello <b>class</b></p>"},
        {"title": "Ask", "narration": "<p>Ask</p>", "prompt": "Hi", "action": "run"},
        {"title": "Turn it up", "narration": "<p>Up</p>", "prompt": "Who are you?",
         "steer": [{"concept": "golden_gate", "strength": 2, "method": "clamp"}], "action": "compare",
         "panels": ["chat", "steering"], "highlight": "compare_button", "sampling": {"seed": 1, "temperature": 0.5}},
    ],
}


@pytest.fixture
def folder(tmp_path):
    """A resources-like tree: lessons/ beside demo_features.json and presets/."""
    shutil.copy(RES / "demo_features.json", tmp_path / "demo_features.json")
    shutil.copytree(RES / "presets", tmp_path / "presets")
    (tmp_path / "lessons").mkdir()
    return tmp_path / "lessons"


def write(folder, lesson, name="steering.json"):
    p = folder / name
    p.write_text(lesson if isinstance(lesson, str) else json.dumps(lesson), encoding="utf-8")
    return p


def refused(folder, lesson, *parts, name="steering.json"):
    with pytest.raises(LessonError) as e:
        load_lesson(write(folder, lesson, name))
    msg = str(e.value)
    for part in parts:
        assert part in msg, msg
    return msg


def with_step(i, **changes):
    d = copy.deepcopy(GOOD)
    d["steps"][i].update(changes)
    return d


def test_every_shipped_lesson_validates():
    infos = list_lessons(LESSONS)
    assert {i.id for i in infos} == SHIPPED
    for info in infos:
        assert 6 <= info.steps <= 12, info
        les = load_lesson(info.path)
        assert les.id == info.path.stem and les.title == info.title
        for s in les.steps:
            assert check_narration(s.narration) is None


def test_shipped_lessons_use_their_actions_and_only_demo_concepts():
    actions = {i.id: [s.action for s in load_lesson(i.path).steps] for i in list_lessons(LESSONS)}
    assert "neuron" in actions["black-boxes"]
    assert {"train_toy", "toy_sae", "rainbow"} <= set(actions["superposition"])
    assert {"compare", "sweep", "quiz"} <= set(actions["steering"])
    steering = load_lesson(LESSONS / "steering.json")
    compare = next(s for s in steering.steps if s.action == "compare")
    assert compare.action_args["prompts"] == ("Who are you?", "What should I do this weekend?")
    assert compare.steer[0].concept == "golden_gate" and compare.steer[0].strength > 0
    bugs = [s.steer[0].strength for s in steering.steps if s.steer and s.steer[0].concept == "bugs"]
    assert max(bugs) > 0 > min(bugs)  # up and down
    concepts = known_concepts(LESSONS)
    assert {"golden_gate", "bugs", "scam"} <= concepts
    for p in LESSONS.glob("*.json"):
        for s in load_lesson(p).steps:
            assert all(item.concept in concepts for item in s.steer or ())


def test_a_good_lesson_parses_into_frozen_dataclasses(folder):
    les = load_lesson(write(folder, GOOD))
    s = les.steps[2]
    assert s.steer[0].concept == "golden_gate" and s.steer[0].strength == 2.0 and s.steer[0].method == "clamp"
    assert s.panels == ("chat", "steering") and s.sampling.seed == 1 and s.sampling.max_new_tokens is None
    assert les.steps[0].steer is None and les.steps[0].action == "none"
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        s.title = "changed"
    with pytest.raises(TypeError):
        s.action_args["x"] = 1


def test_error_names_file_step_title_and_field(folder):
    msg = refused(folder, with_step(2, action="fly"))
    assert msg.startswith("lesson 'steering.json', step 3 ('Turn it up'): field 'action': 'fly' is not one of ")
    for a in ACTIONS:
        assert a in msg


@pytest.mark.parametrize("change,parts", [
    ({"steer": [{"concept": "dragons"}]}, ["step 3", "field 'steer[1].concept'", "'dragons'"]),
    ({"steer": [{"concept": "golden_gate", "colour": "red"}]}, ["step 3", "'steer[1].colour'", "unknown key"]),
    ({"wobble": True}, ["step 3", "field 'wobble'", "unknown key"]),
    ({"prompt": 42}, ["step 3", "field 'prompt'", "must be a text, not a number"]),
    ({"steer": [{"concept": "golden_gate", "strength": "high"}]}, ["'steer[1].strength'", "must be a number"]),
    ({"steer": [{"concept": "golden_gate", "strength": 1e6}]}, ["'steer[1].strength'"]),
    ({"steer": [{"concept": "golden_gate", "method": "multiply"}]}, ["'steer[1].method'", "add, clamp, orth"]),
    ({"panels": ["chat", "chat"]}, ["field 'panels'", "twice"]),
    ({"panels": ["cockpit"]}, ["field 'panels[1]'"]),
    ({"highlight": "big_red_button"}, ["field 'highlight'"]),
    ({"sampling": {"temperature": -1}}, ["field 'sampling.temperature'"]),
    ({"sampling": {"seed": True}}, ["field 'sampling.seed'"]),
    ({"sampling": {"top_p": 0.5}}, ["field 'sampling.top_p'", "unknown key"]),
    ({"preset": "no-such-preset"}, ["field 'preset'"]),
    ({"preset": "golden-gate"}, ["field 'steer'", "not both"]),
    ({"action": "sweep", "action_args": {"concept": "golden_gate"}}, ["'action_args.strengths'", "required"]),
    ({"action": "sweep", "action_args": {"strengths": [1, "2"]}}, ["'action_args.strengths[2]'"]),
    ({"action": "train_toy", "action_args": {"n": 5, "m": 6}}, ["'action_args.m'", "must not exceed n"]),
    ({"action": "neuron", "action_args": {"texts": "one text"}}, ["'action_args.texts'", "must be a list"]),
    ({"action": "quiz", "action_args": {"source": "everything"}}, ["'action_args.source'"]),
    ({"action": "run", "action_args": {"fast": True}}, ["'action_args.fast'", "unknown key"]),
    ({"action": "sweep", "prompt": None, "action_args": {"strengths": [1, 2]}}, ["field 'prompt'", "needs a prompt"]),
])
def test_malformed_steps_are_refused_naming_the_field(folder, change, parts):
    refused(folder, with_step(2, **change), "lesson 'steering.json', step 3 ('Turn it up')", *parts)


def test_missing_narration_and_unsafe_narration(folder):
    d = copy.deepcopy(GOOD)
    del d["steps"][1]["narration"]
    refused(folder, d, "step 2 ('Ask')", "field 'narration'", "required")
    refused(folder, with_step(0, narration="<p>hi<script>alert(1)</script></p>"), "step 1", "<script> is not allowed")
    refused(folder, with_step(0, narration='<p onclick="x()">hi</p>'), "step 1", "attributes")
    refused(folder, with_step(0, narration="<p>hi <b>bold</p>"), "step 1", "field 'narration'")
    refused(folder, with_step(0, narration="<p>never closed"), "step 1", "never closed")
    refused(folder, with_step(0, narration="<!-- hidden --><p>x</p>"), "comments")
    refused(folder, with_step(0, narration="   "), "field 'narration'", "non-empty")


def test_lesson_level_problems(folder):
    refused(folder, '{"schema": 1, "id": ', "'steering.json'", "not valid JSON")
    refused(folder, "[1, 2]", "must hold a JSON object")
    refused(folder, {**GOOD, "schema": 2}, "field 'schema'", "schema 1", "2")
    refused(folder, {**GOOD, "schema": True}, "field 'schema'")
    refused(folder, {**GOOD, "author": "me"}, "field 'author'", "unknown key")
    refused(folder, {k: v for k, v in GOOD.items() if k != "title"}, "field 'title'", "required")
    refused(folder, {**GOOD, "id": "other"}, "field 'id'", "file name")
    refused(folder, {**GOOD, "id": "Bad Id"}, "field 'id'")
    refused(folder, {**GOOD, "level": "expert"}, "field 'level'")
    refused(folder, {**GOOD, "est_minutes": 2.5}, "field 'est_minutes'")
    refused(folder, {**GOOD, "steps": []}, "field 'steps'", "1 to 40")
    refused(folder, {**GOOD, "steps": ["just text"]}, "step 1", "must be an object")
    refused(folder, '{"schema": 1, "schema": 1}', "appears twice")
    refused(folder, json.dumps(GOOD) + " " * (300 * 1024), "larger than")


def test_image_paths_stay_inside_the_lessons_folder(folder):
    (folder / "img").mkdir()
    (folder / "img" / "pentagon.png").write_bytes(b"\x89PNG")
    (folder.parent / "outside.png").write_bytes(b"\x89PNG")
    les = load_lesson(write(folder, with_step(0, image="img/pentagon.png")))
    assert les.steps[0].image == (folder / "img" / "pentagon.png").resolve()
    refused(folder, with_step(0, image="../outside.png"), "step 1", "field 'image'", "inside the lessons folder")
    refused(folder, with_step(0, image=str(folder.parent / "outside.png")), "field 'image'", "inside")
    refused(folder, with_step(0, image="img/missing.png"), "field 'image'", "not an image file")
    (folder / "notes.txt").write_text("x")
    refused(folder, with_step(0, image="notes.txt"), "field 'image'")


def test_list_lessons_reports_or_raises_on_a_bad_file(folder):
    write(folder, GOOD)
    write(folder, {**GOOD, "id": "broken", "level": "expert"}, name="broken.json")
    with pytest.raises(LessonError, match="broken.json"):
        list_lessons(folder)
    errors = []
    infos = list_lessons(folder, errors=errors)
    assert [i.id for i in infos] == ["steering"] and infos[0].steps == 3
    assert len(errors) == 1 and "'broken.json'" in errors[0] and "field 'level'" in errors[0]


def test_concepts_and_presets_come_from_beside_the_folder(folder):
    assert known_presets(folder) == {p.stem for p in (RES / "presets").glob("*.json")}
    les = parse_lesson(json.dumps(with_step(2, steer=[{"concept": "only_here"}])), "steering.json",
                       concepts={"only_here"})
    assert les.steps[2].steer[0].concept == "only_here" and les.path is None
