"""Explaining and blind scoring end to end on the tiny model against a fake OpenAI-compatible server on
127.0.0.1: the held-out split, cancel and resume, failures, and the scorer sanity check (docs/EXPLANATIONS.md)."""

import json
from collections import Counter

import numpy as np
import pytest
import torch

from desktop_sae.core.engine.hooks import capture
from desktop_sae.core.explanations import protocol, runs
from desktop_sae.core.explanations.bank_file import load_bank, save_bank
from desktop_sae.core.explanations.client import ChatClient, ChatSettings
from desktop_sae.core.explanations.contexts import ContextBank, is_scoring_window
from desktop_sae.core.explanations.stats import mean_with_bootstrap
from desktop_sae.core.explanations.store import ExplanationStore, ScoreStore
from desktop_sae.core.sae.formats import load_sae
from fake_llm_server import FakeLLM
from tiny import random_sae, tiny_lm

HOOK = "blocks.1.hook_resid_post"
WORDS = ("the quick brown fox jumps over the lazy dog . a bridge in san francisco is golden . def add ( a , b ) : "
         "return a + b . secrets are kept in a safe . hello world , how are you today ?").split()


@pytest.fixture(scope="module")
def lm():
    return tiny_lm()


@pytest.fixture(scope="module")
def windows(lm):
    """300 windows of 32 tokens (BOS first) of shuffled words from the tiny tokenizer's training text."""
    rng = np.random.default_rng(0)
    rows = []
    while len(rows) < 300:
        ids = lm.tokenizer(" ".join(rng.choice(WORDS, size=40)), add_special_tokens=False)["input_ids"]
        if len(ids) >= 31:
            rows.append([1] + ids[:31])
    return np.array(rows)


@pytest.fixture(scope="module")
def random_bank(lm, windows, tiny_sae_dir):
    return ContextBank.build(lm.model, lm.tokenizer, load_sae(tiny_sae_dir), HOOK, windows, skip_ids=(0, 1, 2),
                             unembedding=lm.model.get_output_embeddings().weight)


def token_sae(lm, windows, n=40):
    """An SAE whose features detect single word tokens: feature j's encoder direction is the mean residual of
    token t_j minus the overall mean, with a threshold at half its own token's projection; k = 1."""
    x = capture(lm.model, HOOK, input_ids=torch.from_numpy(windows)).reshape(-1, 64).float()
    ids = torch.from_numpy(windows).reshape(-1)
    text = {int(t): lm.tokenizer.decode([int(t)]) for t in ids.unique()}
    special = set(lm.tokenizer.all_special_ids)
    common = [t for t, _ in Counter(ids.tolist()).most_common() if len(text[t].strip()) >= 2 and t not in special][:n]
    mu = x.mean(0)
    dirs = torch.nn.functional.normalize(torch.stack([x[ids == t].mean(0) - mu for t in common]), dim=-1)
    own = torch.stack([((x[ids == t] - mu) @ d).mean() for t, d in zip(common, dirs)])
    sae = random_sae(d_in=64, d_sae=len(common), k=1, hook=HOOK)
    with torch.no_grad():
        sae.W_enc.copy_(dirs.T)
        sae.W_dec.copy_(dirs)
        sae.b_dec.zero_()
        sae.b_enc.copy_(-(mu @ dirs.T) - 0.5 * own)
    return sae, [text[t] for t in common]


@pytest.fixture
def fake():
    server = FakeLLM()
    yield server
    server.close()


def client_for(fake, **kw):
    return ChatClient(ChatSettings(fake.url, "fake-model", **{"timeout_s": 5.0, "backoff_s": 0.0, **kw}))


def test_bank_holds_out_scoring_windows_and_reads_the_sae(lm, windows, random_bank, tiny_sae_dir):
    bank = random_bank
    assert bank.scoring.sum() > 20 and (~bank.scoring).sum() > 150  # about one in SCORE_SHARE held out
    assert list(bank.scoring) == [is_scoring_window(w, 0) for w in windows]
    live = [f for f in range(bank.d_sae) if not bank.contexts(f).dead]
    assert len(live) > 10
    sae = load_sae(tiny_sae_dir)
    acts = sae.encode(capture(lm.model, HOOK, input_ids=torch.from_numpy(windows)).reshape(-1, 64)).detach().reshape(
        len(windows), 32, -1)
    acts[:, 0] = 0  # BOS is never active
    for f in live[:8]:
        fc = bank.contexts(f)
        shown = fc.explain_top + fc.explain_quantile
        assert not any(bank.scoring[c.window] for c in shown)
        assert all(bank.scoring[c.window] for c in fc.score_activating + fc.score_non_activating)
        assert {c.window for c in fc.score_activating}.isdisjoint(c.window for c in fc.score_non_activating)
        # values are the SAE's activations at those tokens; the strongest explaining context comes first
        c = fc.explain_top[0]
        # an excerpt of SHOWN tokens after BOS, with the window's strongest token SHOWN_BEFORE tokens in when it can be
        assert len(c.tokens) == len(c.values) == protocol.SHOWN and c.start >= 1 and all(c.tokens)
        peak = int(acts[c.window, :, f].argmax())
        assert c.start == max(1, min(peak - protocol.SHOWN_BEFORE, 32 - protocol.SHOWN))
        assert np.allclose(c.values, acts[c.window, c.start : c.start + protocol.SHOWN, f].numpy(), atol=2e-3)
        assert c.max_value == pytest.approx(float(acts[~torch.from_numpy(bank.scoring), :, f].max()), abs=1e-3)
        assert all(max(ctx.values) == 0 for ctx in fc.score_non_activating)
        floor = protocol.FIRE_FRACTION * fc.max_activation  # every context shown as activating fires
        assert all(ctx.max_value >= floor for ctx in fc.explain_top + fc.explain_quantile + fc.score_activating)
        assert all(float(acts[ctx.window, :, f].max()) == 0 for ctx in fc.score_non_activating)
        quiet = int((acts[torch.from_numpy(bank.scoring), :, f].amax(dim=1) == 0).sum())
        assert len(fc.score_non_activating) == min(len(fc.score_activating), protocol.N_SCORE_NON_ACTIVATING, quiet)
        assert all(len(ctx.tokens) == protocol.SHOWN for ctx in fc.score_activating + fc.score_non_activating)
        assert fc.density == pytest.approx(float((acts[:, 1:, f] >= floor).float().mean()), rel=1e-3)
        assert len(fc.promoted) == protocol.N_LOGITS


def test_a_saved_bank_gives_the_same_contexts(random_bank, tmp_path):
    key = {"corpus": ["x"], "windows": 300}
    save_bank(random_bank, tmp_path / "bank.npz", key)
    again = load_bank(tmp_path / "bank.npz", key)
    assert again is not None and load_bank(tmp_path / "bank.npz", {**key, "windows": 301}) is None
    assert load_bank(tmp_path / "none.npz", key) is None
    for f in range(0, random_bank.d_sae, 17):
        assert again.contexts(f) == random_bank.contexts(f)


def test_explain_and_score_end_to_end_with_cancel_and_resume(random_bank, fake, tmp_path):
    bank = random_bank
    features = list(range(bank.d_sae))
    live = [f for f in features if not bank.contexts(f).dead]
    store = ExplanationStore(tmp_path / "explanations.json")
    assert runs.explain_call_estimate(features, store) == len(features)
    assert runs.explain_call_estimate(features, store, bank) == len(live)
    assert [f for f in features if bank.is_live(f)] == live
    client = client_for(fake, parallel=2)
    seen = []

    def cancel():  # cancelled once six features have been explained
        return sum(fake.explained.values()) >= 6

    first = runs.explain_features(bank, features, client, store, progress=lambda x, m: seen.append(x),
                                  cancel=cancel)
    assert first.cancelled and first.done == 6 and first.failed == 0
    on_disk = json.loads((tmp_path / "explanations.json").read_text())
    assert on_disk["version"] == 1 and len(on_disk["explanations"]) == 6
    assert ExplanationStore.beside(tmp_path).explanations == store.explanations
    # resumed from the file: the six are skipped, nothing is explained twice
    again = ExplanationStore.beside(tmp_path)
    assert runs.explain_call_estimate(features, again, bank) == len(live) - 6
    second = runs.explain_features(bank, features, client, again)
    assert not second.cancelled and second.done == len(live) - 6 and second.failed == 0
    assert set(again.explanations) == set(live) and set(fake.explained) == set(live)
    assert max(fake.explained.values()) == 1
    e = again.explanations[live[0]]
    assert e.method is protocol.Method.LLM and e.explainer == "fake-model" and e.protocol == protocol.PROTOCOL_VERSION
    assert e.date.startswith("20") and e.text.startswith("the tokens")
    assert seen and seen[-1] <= 1.0

    # scoring: estimate, cancel, resume; both scorers' confusion counts add up to the samples shown
    scores = ScoreStore(tmp_path / "explanation_scores.json")
    variants = [protocol.Variant.OWN]
    estimate = runs.score_call_estimate(bank, features, variants, scores, again)
    n0 = fake.requests
    stop = [False]
    part = runs.score_explanations(bank, features, variants, client, again, scores, cancel=lambda: stop[0],
                                   progress=lambda x, m: stop.__setitem__(0, len(scores.done(variants[0])) >= 3))
    assert part.cancelled and len(ScoreStore.beside(tmp_path).done(protocol.Variant.OWN)) == 3
    rest = runs.score_explanations(bank, features, variants, client, again, ScoreStore.beside(tmp_path))
    final = ScoreStore.beside(tmp_path)
    assert rest.done + 3 == len(final.done(protocol.Variant.OWN)) > 5
    assert fake.requests - n0 == estimate  # every call made once: none repeated after the resume
    for f, s in final.scores[protocol.Variant.OWN].items():
        fc = bank.contexts(f)
        assert s.detection.tp + s.detection.fn == len(fc.score_activating)
        assert s.detection.tn + s.detection.fp == len(fc.score_non_activating)
        assert s.fuzzing.tp + s.fuzzing.fn == len(fc.score_activating)
        assert s.explanation == again.text(f) and s.scorer == "fake-model"


@pytest.mark.parametrize("mode", ["garbage", "500", "hang", "not_json"])
def test_failed_calls_are_retried_then_recorded(random_bank, fake, tmp_path, mode):
    bank = random_bank
    live = [f for f in range(bank.d_sae) if not bank.contexts(f).dead][:2]
    fake.mode, fake.hang_s = mode, 1.0
    client = client_for(fake, tries=2, timeout_s=0.3, parallel=1)
    store = ExplanationStore(tmp_path / "explanations.json")
    out = runs.explain_features(bank, live, client, store)
    assert out.failed == 2 and out.done == 0 and fake.requests == 4  # two tries each
    saved = ExplanationStore.beside(tmp_path)
    assert saved.explanations == {} and set(saved.failures) == set(live)
    assert "2 tries failed" in saved.failures[live[0]].error
    # the endpoint recovers: a second run explains the failed features and clears their failures
    fake.mode = "ok"
    out = runs.explain_features(bank, live, client, saved)
    assert out.done == 2 and ExplanationStore.beside(tmp_path).failures == {}


def test_a_scoring_failure_leaves_no_half_scored_feature(random_bank, fake, tmp_path):
    bank = random_bank
    live = [f for f in range(bank.d_sae) if bank.contexts(f).score_non_activating][:3]
    store = ExplanationStore(tmp_path / "explanations.json")
    runs.explain_features(bank, live, client_for(fake), store)
    fake.mode = "500"
    scores = ScoreStore(tmp_path / "explanation_scores.json")
    out = runs.score_explanations(bank, live, [protocol.Variant.OWN], client_for(fake, tries=1), store, scores)
    assert out.failed == 3 and out.done == 0
    saved = ScoreStore.beside(tmp_path)
    assert saved.done(protocol.Variant.OWN) == set() and set(saved.failures[protocol.Variant.OWN]) == set(live)


def test_an_interrupt_mid_run_keeps_the_file_whole(random_bank, fake, tmp_path):
    bank = random_bank
    features = [f for f in range(bank.d_sae) if not bank.contexts(f).dead]
    store = ExplanationStore(tmp_path / "explanations.json")
    calls = [0]

    def progress(x, m):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runs.explain_features(bank, features, client_for(fake, parallel=2), store, progress=progress)
    saved = ExplanationStore.beside(tmp_path)  # parses: written atomically after each group
    assert len(saved.explanations) == sum(fake.explained.values()) == 6  # all answered so far, and whole
    assert not list(tmp_path.glob(".*tmp"))


def test_scorer_sanity_matching_explanations_score_high_random_ones_near_chance(lm, windows, fake, tmp_path):
    sae, words = token_sae(lm, windows)
    bank = ContextBank.build(lm.model, lm.tokenizer, sae, HOOK, windows, skip_ids=(0, 1, 2))
    features = [f for f in range(sae.cfg.d_sae) if bank.contexts(f).score_non_activating]
    assert len(features) >= 20
    client = client_for(fake, parallel=4)
    store = ExplanationStore(tmp_path / "explanations.json")
    runs.explain_features(bank, features, client, store)
    hits = sum(words[f].strip() in store.text(f) for f in features)
    assert hits >= 0.8 * len(features)  # the fake explainer names each feature's own token
    scores = ScoreStore(tmp_path / "explanation_scores.json")
    labels = {f: "the tokens \"zzz\"" for f in features}  # a label naming a token that never occurs
    variants = [protocol.Variant.OWN, protocol.Variant.RANDOM_OTHER, protocol.Variant.TOKEN_LABEL]
    runs.score_explanations(bank, features, variants, client, store, scores, labels=labels)

    def mean(v, sc):
        return mean_with_bootstrap([s.balanced_accuracy(sc) for s in scores.scores[v].values()])

    own_d, own_f = mean(protocol.Variant.OWN, protocol.Scorer.DETECTION), mean(protocol.Variant.OWN,
                                                                                protocol.Scorer.FUZZING)
    rnd_d = mean(protocol.Variant.RANDOM_OTHER, protocol.Scorer.DETECTION)
    lab_d = mean(protocol.Variant.TOKEN_LABEL, protocol.Scorer.DETECTION)
    assert own_d[0] > 0.85 and own_f[0] > 0.75
    assert abs(rnd_d[0] - 0.5) < 0.1 and rnd_d[1] < 0.5 < rnd_d[2] + 0.05
    assert lab_d[0] == pytest.approx(0.5)  # never says yes: exactly chance
    assert own_d[1] > rnd_d[2]  # the intervals do not overlap
