"""app/attribution_run.py without Qt: "Why this token?" on the tiny model with SAEs at two depths (the loaded one at
blocks.1 and a depth SAE at blocks.0 beside it): the context is the answer's prompt and the answer before the token;
an ablation matches ``set_activations``; an older answer's prompt is rebuilt from the conversation; Stop keeps the
shown graph; an intervention on a graph the worker no longer holds is refused."""

import shutil
import time

import pytest

import tiny
from desktop_sae.app.attribution_run import (
    AnswerToken,
    AttributionRun,
    chat_request,
    last_answer_token,
)
from desktop_sae.app.controller import Controller
from desktop_sae.app.loading import LoadRequest
from desktop_sae.app.runs import RunStatus
from desktop_sae.app.timers import ManualTimer
from desktop_sae.core.attribution.attributor import Attributor
from desktop_sae.core.attribution.graph import NodeKind
from desktop_sae.core.attribution.interventions import set_activations
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.presets.store import PresetStore
from desktop_sae.core.sae.formats import save_sae


def sae_with_depths(tiny_sae_dir, root):
    """The tiny SAE (blocks.1) with a depth SAE at blocks.0 in ``<folder>-depths/L00``."""
    folder = shutil.copytree(tiny_sae_dir, root / "sae", ignore=shutil.ignore_patterns("labels.user.json"))
    save_sae(tiny.with_stats(tiny.random_sae(hook="blocks.0.hook_resid_post", seed=3)), root / "sae-depths" / "L00")
    return folder


@pytest.fixture
def depth_ctl(runner, tmp_path, tiny_sae_dir):
    c = Controller(runner, loader=tiny.make_loader(sae_with_depths(tiny_sae_dir, tmp_path)),
                   store=PresetStore(tmp_path / "p"), timer=ManualTimer())
    c.model.load(LoadRequest())
    c.wait_until(lambda: c.model.ready or c.notices.last_error, 60, "the model")
    assert c.model.ready, c.notices.last_error
    c.conversation.set_sampling(SamplingConfig(seed=3, temperature=0.0, max_new_tokens=8))
    return c


def answer(ctl, text):
    got = []
    ctl.conversation.answer_finished.connect(lambda _turn, res: got.append(res))
    assert ctl.conversation.send(text)
    ctl.wait_until(lambda: got, 60, "the answer")
    return got[0]


def wait(ctl, run):
    ctl.wait_until(lambda: not run.running, 60, "the run")


def test_why_this_token_graph_and_ablation(depth_ctl):
    ctl = depth_ctl
    res = answer(ctl, "hello world")
    tok = last_answer_token(ctl.conversation)
    assert tok is not None and tok.index == len(res.prompt_ids) + len(res.answer_ids) - 1 - (
        res.stop_reason == "eos")
    req = chat_request(ctl.conversation, tok)
    k = tok.index - len(res.prompt_ids)
    assert req.context == (*res.prompt_ids, *res.answer_ids[:k]) and req.target_id == res.answer_ids[k]

    run = AttributionRun(ctl.jobs, ctl.model)
    progress = []
    run.changed.connect(lambda _w: progress.append(run.message))
    run.start(req)
    wait(ctl, run)
    assert run.status == RunStatus.DONE, run.error
    shown = run.shown
    g = shown.graph
    assert g.target_id == req.target_id and g.token_ids == req.context and g.depths == (0, 1)
    assert shown.loaded_layer == 1 and any(m.startswith("edges into layer") for m in progress)
    assert [c.token_id for c in shown.candidates][:1] and len(shown.candidates) == 8
    feats = [n for n in g.nodes if n.kind is NodeKind.FEATURE]
    assert {n.layer for n in feats} == {0, 1}
    assert all(shown.name(n) for n in g.nodes)
    assert shown.opens_dashboard(next(n for n in feats if n.layer == 1))
    assert not shown.opens_dashboard(next(n for n in feats if n.layer == 0))
    assert shown.text(next(n for n in feats if n.layer == 0)).name.startswith("#")  # no dictionary there

    node = g.features()[0]
    run.ablate(node)
    ctl.wait_until(lambda: not run.edit.running, 60, "the ablation")
    got = run.edit.result
    assert run.edit.status == RunStatus.DONE and got is not None and got.node == node.key
    session = ctl.runner.session  # idle worker: the test reads the same model
    ref_graph, state = Attributor.for_model(session.lm, session.sae, shown_folder(session)).graph(g.token_ids,
                                                                                                g.target_id)
    want = set_activations(state, [node], [0.0])[0]
    assert got.actual == pytest.approx(want.actual, abs=1e-4) and got.predicted == pytest.approx(want.predicted,
                                                                                              abs=1e-4)
    assert got.before == pytest.approx(g.target_value, abs=1e-4)

    run.intervene(node, 2 * node.activation)  # steering to a value
    ctl.wait_until(lambda: not run.edit.running, 60, "the steering")
    assert run.edit.result.new_activation == pytest.approx(2 * node.activation)

    alt = next(c.token_id for c in shown.candidates if c.token_id != g.target_id)
    old_id = shown.graph_id
    run.with_alternative(alt)
    wait(ctl, run)
    assert run.graph.alt_id == alt and run.graph.token_ids == g.token_ids and run.shown.graph_id != old_id
    run.edit.start(old_id, node, 0.0)  # asked on the graph shown before
    ctl.wait_until(lambda: not run.edit.running, 60)
    assert run.edit.status == RunStatus.FAILED and "no longer the latest" in run.edit.error
    run.close()


def shown_folder(session):
    from desktop_sae.core.features.user_labels import sae_folder

    return sae_folder(session.sae.source_path)


def test_an_older_answer_rebuilds_its_prompt_and_stop_keeps_the_shown_graph(depth_ctl, monkeypatch):
    ctl = depth_ctl
    first = answer(ctl, "hello world")
    answer(ctl, "the quick brown fox")
    evs = ctl.conversation.turns[1].events[first.run]
    tok = AnswerToken(first.run, evs[1].index)
    req = chat_request(ctl.conversation, tok)
    assert req.prompt is not None and req.prompt.prompt_len == len(first.prompt_ids)  # overwritten since
    run = AttributionRun(ctl.jobs, ctl.model)
    run.start(req)
    wait(ctl, run)
    assert run.graph.token_ids == (*first.prompt_ids, first.answer_ids[0])
    assert run.graph.target_id == first.answer_ids[1]
    shown = run.shown

    import desktop_sae.core.attribution.attribute as attribute

    slow = attribute.edges_between

    def edges_between(*a, **kw):
        time.sleep(0.5)
        return slow(*a, **kw)

    monkeypatch.setattr(attribute, "edges_between", edges_between)
    run.with_alternative(shown.candidates[0].token_id if shown.candidates[0].token_id != shown.graph.target_id
                         else shown.candidates[1].token_id)
    ctl.wait_until(lambda: run.message.startswith("edges"), 60)
    run.cancel()
    wait(ctl, run)
    assert run.status == RunStatus.CANCELLED and run.shown is shown and run.result is None
    run.ablate(shown.graph.features()[0])  # the worker still holds the shown graph
    ctl.wait_until(lambda: not run.edit.running, 60)
    assert run.edit.status == RunStatus.DONE, run.edit.error
    with pytest.raises(ValueError, match="not a token of an answer"):
        chat_request(ctl.conversation, AnswerToken(first.run, 0))
    run.close()
