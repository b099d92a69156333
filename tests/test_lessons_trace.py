"""The lesson action ``trace``: its arguments are checked like the other actions' (naming the field), the shipped
lesson "Tracing a thought" uses it, ``desktop-sae lessons --check`` accepts the lesson, and the helpers that play
it (context tokens, the one-token alternative, the strongest positive feature node) do what the lesson says."""

import copy
import json
from pathlib import Path

import pytest

from desktop_sae.app.lesson_trace import TraceError, one_token, strongest_positive, trace_ids
from desktop_sae.cli import main
from desktop_sae.core.attribution.graph import Node, NodeKind
from desktop_sae.core.classroom.lessons import LessonAction, LessonError, TraceAblate, load_lesson, parse_lesson

LESSON = Path(__file__).parents[1] / "resources" / "lessons" / "tracing-a-thought.json"

BASE = {
    "schema": 1, "id": "t", "title": "T", "summary": "S", "level": "intermediate", "est_minutes": 5,
    "steps": [{"title": "Graph", "narration": "<p>Look</p>", "prompt": "What is the opposite of hot?",
               "action": "trace", "action_args": {"answer": "The opposite of hot is"}}],
}


def parse(**step_changes):
    d = copy.deepcopy(BASE)
    d["steps"][0].update(step_changes)
    return parse_lesson(json.dumps(d), "t.json", concepts=(), presets=())


def test_a_trace_step_parses_with_its_defaults_and_options():
    s = parse().steps[0]
    assert s.action is LessonAction.TRACE and s.action_args == {"answer": "The opposite of hot is"}
    s = parse(action_args={"answer": "The opposite of hot is", "alt": " warm", "ablate": "top"}).steps[0]
    assert s.action_args["alt"] == " warm" and s.action_args["ablate"] is TraceAblate.TOP


@pytest.mark.parametrize("change, parts", [
    ({"action_args": {}}, ["step 1 ('Graph')", "'action_args.answer'", "is required"]),
    ({"action_args": None}, ["'action_args.answer'", "is required"]),
    ({"action_args": {"answer": ""}}, ["'action_args.answer'", "non-empty text of at most 300"]),
    ({"action_args": {"answer": "x" * 301}}, ["'action_args.answer'", "at most 300"]),
    ({"action_args": {"answer": 3}}, ["'action_args.answer'", "must be a text, not a number"]),
    ({"action_args": {"answer": "a", "alt": ["cold"]}}, ["'action_args.alt'", "must be a text, not a list"]),
    ({"action_args": {"answer": "a", "alt": "x" * 41}}, ["'action_args.alt'", "at most 40"]),
    ({"action_args": {"answer": "a", "ablate": "all"}}, ["'action_args.ablate'", "'all' is not one of none, top"]),
    ({"action_args": {"answer": "a", "ablate": True}}, ["'action_args.ablate'", "is not one of none, top"]),
    ({"action_args": {"answer": "a", "feature": 12}}, ["'action_args.feature'", "unknown key",
                                                        "allowed: ablate, alt, answer"]),
    ({"prompt": None}, ["field 'prompt'", "action 'trace' needs a prompt"]),
])
def test_bad_trace_arguments_are_refused_naming_the_field(change, parts):
    d = copy.deepcopy(BASE)
    d["steps"][0].update(change)
    if change.get("prompt", "") is None:
        del d["steps"][0]["prompt"]
    if change.get("action_args", {}) is None:
        del d["steps"][0]["action_args"]
    with pytest.raises(LessonError) as e:
        parse_lesson(json.dumps(d), "t.json", concepts=(), presets=())
    for part in parts:
        assert part in str(e.value), str(e.value)


def test_the_shipped_lesson_traces_and_ablates_without_naming_a_feature():
    les = load_lesson(LESSON)
    assert les.level == "intermediate" and 8 <= len(les.steps) <= 10
    traces = [s for s in les.steps if s.action is LessonAction.TRACE]
    assert any(s.action_args.get("ablate") is TraceAblate.TOP for s in traces)
    assert any("alt" in s.action_args for s in traces)
    assert les.steps[-1].action is LessonAction.FREE_PLAY
    measured = json.loads((Path(__file__).parents[1] / "docs/results/lessons/tracing_a_thought.json").read_text())
    chosen = next(c for c in measured["candidates"] if c["id"] == measured["summary"]["chosen"])
    assert chosen["works"] and all(s.prompt == chosen["prompt"] and s.action_args["answer"] == chosen["answer"]
                                   for s in traces)
    assert "#" not in json.dumps([s.action_args for s in les.steps], default=str)


def test_lessons_check_accepts_the_lesson(capsys):
    assert main(["lessons", "--check", str(LESSON)]) == 0
    assert "ok" in capsys.readouterr().out


class _Tok:
    """A word tokenizer: each space-led word is a token; the chat template is two fixed ids."""

    chat_template = None
    bos_token_id = None

    def __call__(self, text, add_special_tokens=True):
        words = text.replace(" ", "\0 ").split("\0")
        return {"input_ids": [len(w) for w in words if w]}


def test_trace_helpers_tokens_and_the_strongest_positive_node():
    tok = _Tok()
    assert one_token(tok, " warm") == 5
    with pytest.raises(TraceError, match="2 tokens, not one"):
        one_token(tok, " luke warm")
    ids = trace_ids(tok, "Hi", "The answer")
    assert ids[-2:] == [3, 7]  # the answer's own tokens close the context, no BOS before them

    class G:
        nodes = (Node(NodeKind.FEATURE, 3, 1, 5, 1.0, -4.0), Node(NodeKind.ERROR, 3, 1, effect=9.0),
                 Node(NodeKind.FEATURE, 8, 2, 6, 1.0, 2.0), Node(NodeKind.FEATURE, 8, 1, 7, 1.0, 1.5))

    assert strongest_positive(G()).feature == 6
    G.nodes = G.nodes[:2]
    assert strongest_positive(G()) is None
