"""The lesson action ``trace`` in the window: the step opens the graph view on the model's greedy next token after
the step's prompt and the start of the answer, ablates the graph's strongest positive feature node (``ablate:
top``) and shows the predicted and actual change and the new top answer token; an alternative that is not one
token is reported. On the tiny model with SAEs at two depths, and the shipped lesson on the real bundled model."""

import json
import shutil
from pathlib import Path

import pytest

import tiny
from desktop_sae.app.lesson_trace import strongest_positive
from desktop_sae.core.attribution.graph import NodeKind
from desktop_sae.core.sae.formats import save_sae

pytestmark = pytest.mark.gui
RESULTS = Path(__file__).parents[2] / "docs" / "results" / "lessons" / "tracing_a_thought.json"


def lesson(tmp_path, args):
    d = {"schema": 1, "id": "tiny-trace", "title": "Trace", "summary": "S", "level": "intermediate",
         "est_minutes": 2, "steps": [
             {"title": "Intro", "narration": "<p>Hi</p>"},
             {"title": "Graph", "narration": "<p>Look</p>", "prompt": "hello world", "action": "trace",
              "action_args": args, "panels": ["chat"]}]}
    p = tmp_path / "tiny-trace.json"
    p.write_text(json.dumps(d))
    return p


def wait_idle(qtbot, win, timeout=120_000):
    qtbot.waitUntil(lambda: not win.controller.jobs.outstanding, timeout=timeout)


@pytest.fixture
def depth_win(make_window, tiny_sae_with_dictionary, tmp_path):
    folder = shutil.copytree(tiny_sae_with_dictionary, tmp_path / "sae")
    save_sae(tiny.with_stats(tiny.random_sae(hook="blocks.0.hook_resid_post", seed=3)),
             tmp_path / "sae-depths" / "L00")
    return make_window(tiny.make_loader(folder))


def test_a_trace_step_shows_the_graph_and_ablates_its_strongest_positive_feature(depth_win, qtbot, tmp_path):
    win = depth_win
    errors = []
    win.controller.notices.error.connect(lambda title, msg: errors.append(msg))
    assert win.lessons.start(str(lesson(tmp_path, {"answer": "hello", "ablate": "top"})))
    win.lessons.runner.next()
    wait_idle(qtbot, win)
    view = win.graph_view
    assert view is not None and view.isVisible() and errors == []
    shown = view.run.shown
    g = shown.graph
    assert g.depths == (0, 1) and g.alt_id is None and g.target_id == shown.candidates[0].token_id
    node = strongest_positive(g)
    assert node is not None and node.kind is NodeKind.FEATURE and node.effect > 0
    assert view.panel.node == node and view.scene.selected == g.nodes.index(node)
    text = win.lessons.trace.ablated
    assert f"feature #{node.feature} (layer {node.layer}" in text and "predicted Δ" in text and "actual Δ" in text
    assert "the answer token is" in text and "The lesson's ablation" in view.panel.effect.text()
    win.lessons.end()


def test_a_trace_alternative_that_is_not_one_token_is_reported(depth_win, qtbot, tmp_path):
    win = depth_win
    errors = []
    win.controller.notices.error.connect(lambda title, msg: errors.append(msg))
    assert win.lessons.start(str(lesson(tmp_path, {"answer": "hello", "alt": "hello world again"})))
    win.lessons.runner.next()
    wait_idle(qtbot, win)
    assert errors and "not one" in errors[-1] and "Could not build" in win.graph_view.status.text()
    win.lessons.end()


@pytest.mark.integration
def test_tracing_a_thought_on_the_real_model_as_measured(make_window, real_sae_dir, qtbot):
    """The shipped lesson end to end on the bundled model: the trace steps build the measured graph, the ablation
    step gives the measured answer token, the alternative step a logit difference."""
    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.core.classroom.lessons import LessonAction, TraceAblate

    measured = json.loads(RESULTS.read_text())
    chosen = next(c for c in measured["candidates"] if c["id"] == measured["summary"]["chosen"])
    win = make_window(load=LoadRequest(sae=str(real_sae_dir)))
    errors = []
    win.controller.notices.error.connect(lambda title, msg: errors.append(f"{title}: {msg}"))
    assert win.lessons.start("tracing-a-thought")
    runner, seen = win.lessons.runner, set()
    while True:
        qtbot.waitUntil(lambda: not win.controller.jobs.outstanding and not win.controller.conversation.busy,
                        timeout=300_000)
        step = runner.step
        if step.action is LessonAction.TRACE:
            g = win.graph_view.run.shown.graph
            assert g.target_token == chosen["greedy"]
            if step.action_args.get("ablate") is TraceAblate.TOP:
                text = win.lessons.trace.ablated
                assert f"#{chosen['strongest']['feature']} (layer {chosen['strongest']['layer']}" in text
                assert repr(chosen["ablation"]["top_after"]) in text
                seen.add("ablate")
            if "alt" in step.action_args:
                assert g.alt_token == step.action_args["alt"] and g.target_value > 0
                seen.add("alt")
        if not runner.next():
            break
    assert seen == {"ablate", "alt"} and errors == []
    win.lessons.end()
