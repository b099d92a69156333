"""MLP neurons (core/classroom/neurons.py) on the tiny model, the shipped neuron view's data, and (integration) the
shipped curated neuron recomputed on the real model."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import tiny
from desktop_sae.core.classroom import neuron_data as nd
from desktop_sae.core.classroom import neurons
from desktop_sae.core.engine.hooks import capture, parse_hook_name
from desktop_sae.core.engine.session import Session
from desktop_sae.core.support.errors import Cancelled

FOLDER = Path(__file__).resolve().parents[1] / "resources" / "neurons"
TEXTS = ["the quick brown fox jumps", "def add(a, b): return a + b", "hello world, how are you today?",
         "a bridge in san francisco", "secrets are kept in a safe.", "the lazy dog"]  # fmt: skip
TOPICS = ["animals", "code", "dialogue", "travel", "legal", "animals"]


@pytest.fixture(scope="module")
def lm():
    return tiny.tiny_lm()


@pytest.fixture(scope="module")
def acts(lm):
    return neurons.neuron_activations(lm.model, lm.tokenizer, TEXTS, 1, topics=TOPICS, batch_size=4)


def test_activations_have_one_row_per_token_and_are_the_down_projections_input(lm, acts):
    ids = [lm.tokenizer(t)["input_ids"] for t in TEXTS]
    assert acts.values.shape == (sum(len(i) + 1 for i in ids), neurons.mlp_width(lm.model)) == (acts.offsets[-1], 128)
    assert [len(s) for s in acts.ids] == list(np.diff(acts.offsets)) and not acts.ordinary[acts.offsets[:-1]].any()
    # the MLP's output is down_proj(neurons): compare with the hook_mlp_out of each text run on its own (unpadded)
    W = lm.model.model.layers[1].mlp.down_proj.weight
    for i, seq in enumerate(acts.ids):
        out = capture(lm.model, "blocks.1.hook_mlp_out", input_ids=torch.tensor([seq]))[0]
        mine = torch.from_numpy(acts.values[acts.offsets[i] : acts.offsets[i + 1]].astype(np.float32)) @ W.T
        assert torch.allclose(mine, out, atol=2e-3), i
    one = neurons.neuron_activations(lm.model, lm.tokenizer, TEXTS, [0, 1], topics=TOPICS, batch_size=1)
    assert set(one) == {0, 1} and np.allclose(one[1].values, acts.values, atol=2e-3)  # padding changes nothing


def test_top_contexts_are_sorted_and_point_at_the_peak(lm, acts):
    peaks = acts.text_peaks()
    for n in range(0, acts.width, 9):
        ctx = acts.top_contexts(n, k=4, before=3, after=2)
        assert [c.peak for c in ctx] == sorted((c.peak for c in ctx), reverse=True) and len(ctx) <= 4
        assert len({c.text_index for c in ctx}) == len(ctx)  # one context per text
        for c in ctx:
            a = acts.offsets[c.text_index]
            assert c.peak == pytest.approx(peaks[c.text_index, n], abs=1e-3) and c.peak > 0
            assert c.values[c.peak_index] == pytest.approx(c.peak, abs=1e-3) and max(c.values) == c.values[c.peak_index]
            assert c.position > 0 and acts.ordinary[a + c.position]  # never BOS
            assert c.ids == acts.ids[c.text_index][: c.position + 1]
            assert c.tokens[c.peak_index] == lm.tokenizer.decode([c.ids[-1]]) and len(c.tokens) <= 6
            assert c.topic == TOPICS[c.text_index]
        order = np.argsort(-peaks[:, n], kind="stable")
        assert [c.text_index for c in ctx] == [int(i) for i in order[: len(ctx)]]
    with pytest.raises(ValueError, match="does not exist"):
        acts.top_contexts(acts.width)


def test_polysemanticity_counts_topics_and_scores_every_neuron(acts):
    scores = neurons.score_neurons(acts, k=3)
    assert scores.shape == (acts.width,)
    for n in range(acts.width):
        ctx = acts.top_contexts(n, 3)
        assert scores[n] == neurons.polysemanticity(ctx) == len({c.topic for c in ctx})
    assert 1 <= scores.max() <= 3


def test_cancel_stops_between_batches_and_no_hook_is_left(lm):
    seen, calls = [], []

    def cancelled():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled):
        neurons.neuron_activations(
            lm.model,
            lm.tokenizer,
            TEXTS * 4,
            1,
            batch_size=4,
            progress=lambda f, m: seen.append(f),
            cancelled=cancelled,
        )
    assert seen == [pytest.approx(4 / 24)]  # one batch ran, then it stopped
    down = lm.model.model.layers[1].mlp.down_proj
    assert not down._forward_pre_hooks
    with pytest.raises(RuntimeError), neurons.mlp_capture(lm.model, [1]):
        raise RuntimeError("boom")
    assert not down._forward_pre_hooks


def test_features_at_encodes_the_residual_at_each_peak(lm, acts):
    sae = tiny.with_stats(tiny.random_sae(d_in=64, d_sae=256, k=8, hook="blocks.2.hook_resid_post"))
    session = Session(lm, sae)
    ctx = acts.top_contexts(7, k=5)
    feats = neurons.features_at(session, ctx, top_per_context=3, labels=lambda f: f"f{f}")
    assert feats and [(-h.count, -h.mean_activation) for h in feats] == sorted(
        (-h.count, -h.mean_activation) for h in feats
    )
    assert sum(h.count for h in feats) == 3 * len(ctx)  # the 3 strongest of each context (a TopK SAE, k 8)
    for ci, c in enumerate(ctx):  # the same features as encoding the whole text and reading the peak position
        x = capture(lm.model, session.hook_name, input_ids=torch.tensor([acts.ids[c.text_index]]))[0]
        codes = sae.encode(x[c.position]).numpy()
        assert {h.feature for h in feats if ci in h.contexts} == set(np.argsort(-codes)[:3].tolist())
    h = feats[0]
    assert h.label == f"f{h.feature}" and h.topics == tuple(dict.fromkeys(ctx[i].topic for i in h.contexts))
    keep = neurons.select_features(feats, len(ctx), limit=6)
    assert len(keep) <= 6 and {c for f in keep for c in f.contexts} == set(range(len(ctx)))


def test_descriptions_name_the_main_topics_and_quote_the_peak_tokens():
    assert nd.describe_topics(["code", "email", "code", "http", "math"]) == "fires on code, emails and HTTP/URLs"
    assert nd.describe_topics(["code"]) == "fires on code" and nd.describe_topics([]) == "never fires on the texts"
    ctx = [
        {"topic": t, "tokens": ["a", tok], "peak_index": 1}
        for t, tok in [("citations", "7"), ("email", " Thanks"), ("citations", "\n"), ("poetry", ",")]
    ]
    assert nd.peak_summary(ctx) == "peaks on citations: ‘7’ ‘⏎’"  # topics with one context are left out


# --- the shipped data ---------------------------------------------------------------------------------------------
def test_shipped_text_set_is_small_varied_and_labelled():
    texts, topics = nd.load_texts(FOLDER)
    assert 300 <= len(texts) <= 500 and len(set(topics)) >= 15
    assert all(0 < len(t) <= 260 for t in texts) and len(set(texts)) == len(texts)
    assert (FOLDER / nd.TEXTS).stat().st_size < 80_000
    assert set(topics) <= set(nd.TOPIC_NAMES)


def test_shipped_view_validates_and_its_curated_neurons_span_unrelated_topics():
    raw = (FOLDER / nd.VIEW).read_bytes()
    assert len(raw) <= nd.MAX_VIEW_BYTES
    data = nd.load_view(FOLDER)
    assert nd.validate_view(data) == []
    texts, topics = nd.load_texts(FOLDER)
    assert data["texts"]["sha256"] == hashlib.sha256((FOLDER / nd.TEXTS).read_bytes()).hexdigest()
    assert data["texts"]["count"] == len(texts) and data["n_neurons"] == 1536
    assert data["sae"]["hook"] == "blocks.12.hook_resid_post" and 0 <= data["layer"] < 30
    assert 4 <= len(data["curated"]) <= 8 and len({c["neuron"] for c in data["curated"]}) == len(data["curated"])
    for c in data["curated"]:
        ctx = c["contexts"]
        assert len({x["topic"] for x in ctx}) >= 3 == min(3, c["polysemanticity"])
        assert [x["peak"] for x in ctx] == sorted((x["peak"] for x in ctx), reverse=True)
        for x in ctx:
            assert topics[x["text_index"]] == x["topic"]
            joined = "".join(x["tokens"])
            if "\ufffd" not in joined:  # a multi-byte character split over tokens does not decode alone
                assert joined.strip() in texts[x["text_index"]]
        assert c["features"] and all(f["examples"] for f in c["features"])
        assert c["description"].startswith("fires on ")
    assert nd.validate_view({**data, "format": 99}) and nd.validate_view(json.loads('{"curated": []}'))


def test_the_readme_tables_are_the_shipped_views():
    """packaging/neurons/README.md's layer and curated-neuron tables are the ones written from neuron_view.json."""
    import importlib.util

    path = FOLDER.parents[1] / "packaging" / "neurons" / "readme_tables.py"
    spec = importlib.util.spec_from_file_location("readme_tables", path)
    rt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rt)
    readme = rt.README.read_text(encoding="utf-8")
    view = nd.load_view(FOLDER)
    assert rt.render(readme, view) == readme, "run python packaging/neurons/readme_tables.py"
    for c in view["curated"]:
        assert f"| {c['neuron']} | {c['description']} |" in readme
    chosen = view["layer_choice"]["layers"][str(view["layer_choice"]["chosen"])]
    assert f"| **{chosen['candidates']}** |" in readme


def test_neurons_folder_defaults_to_a_folder_with_the_text_set():
    assert (nd.neurons_folder() / nd.TEXTS).exists()
    assert nd.neurons_folder(FOLDER) == FOLDER


@pytest.mark.integration
def test_a_curated_neuron_recomputed_on_the_real_model_matches_the_shipped_one(bundled_lm):
    data = nd.load_view(FOLDER)
    texts, topics = nd.load_texts(FOLDER)
    assert bundled_lm.sha256 == data["model"]["sha256"]
    c = data["curated"][0]
    acts = neurons.neuron_activations(bundled_lm.model, bundled_lm.tokenizer, texts, data["layer"], topics=topics)
    mine = acts.top_contexts(c["neuron"], data["k"])
    first, shipped = mine[0], c["contexts"][0]
    assert (first.text_index, first.peak_index, list(first.tokens)) == (
        shipped["text_index"],
        shipped["peak_index"],
        shipped["tokens"],
    )
    assert first.peak == pytest.approx(shipped["peak"], rel=0.05)
    assert {x.text_index for x in mine[:5]} <= {x["text_index"] for x in c["contexts"]}
    assert parse_hook_name(data["sae"]["hook"]).layer == 12
