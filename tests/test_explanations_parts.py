"""The explanation protocol's parts: strict answers, the chat client's retries, balanced accuracy and intervals,
the scorers' samples, the store files and Neuronpedia's explanation fields."""

import gzip
import json
import math

import numpy as np
import pytest

from desktop_sae.core.explanations import protocol
from desktop_sae.core.explanations.answers import MalformedAnswerError, parse_explanation, parse_verdicts
from desktop_sae.core.explanations.client import CallFailedError, ChatClient, ChatSettings
from desktop_sae.core.explanations.contexts import Context, FeatureContexts
from desktop_sae.core.explanations.neuronpedia_fields import (
    NeuronpediaExplanationsError,
    export_neuronpedia_explanations,
    import_neuronpedia_explanations,
    read_neuronpedia_explanations,
)
from desktop_sae.core.explanations.prompts import (
    _highlighted,
    detection_samples,
    explainer_messages,
    fuzzing_samples,
    marked_text,
)
from desktop_sae.core.explanations.stats import Confusion, feature_interval, mean_with_bootstrap, wilson
from desktop_sae.core.explanations.store import Explanation, ExplanationStore, StoreError
from desktop_sae.core.support.errors import DesktopSAEError
from fake_llm_server import FakeLLM


# --- answers -----------------------------------------------------------------------------------------------
def test_explanations_are_parsed_strictly():
    assert parse_explanation("Explanation: mentions of money and finance") == "mentions of money and finance"
    assert parse_explanation('  explanation:  "the word bridge"\n\n') == "the word bridge"
    assert parse_explanation('Explanation: the tokens "a" or "b"') == 'the tokens "a" or "b"'
    assert parse_explanation("Explanation: no clear pattern") == protocol.NO_PATTERN
    for bad in ["money", "Explanation:", "Here you go.\nExplanation: money", "Explanation: a\nExplanation: b",
                "Explanation: " + "word " * 21]:
        with pytest.raises(MalformedAnswerError):
            parse_explanation(bad)


def test_verdicts_are_parsed_strictly():
    assert parse_verdicts("[1,0,0,1,1]", 5) == (True, False, False, True, True)
    assert parse_verdicts("```python\n[0, 1]\n```", 2) == (False, True)
    for bad in ["[1,0]", "[1,0,2]", "[true,false,true]", "[1.0,0,1]", "1,0,1", "[1,0,1] because", "{}"]:
        with pytest.raises(MalformedAnswerError):
            parse_verdicts(bad, 3)


# --- client ------------------------------------------------------------------------------------------------
@pytest.fixture
def fake():
    server = FakeLLM()
    yield server
    server.close()


def test_client_settings_from_arguments_and_environment(monkeypatch):
    monkeypatch.delenv("DESKTOP_SAE_LLM_URL", raising=False)
    monkeypatch.delenv("DESKTOP_SAE_LLM_MODEL", raising=False)
    with pytest.raises(DesktopSAEError, match="DESKTOP_SAE_LLM_URL"):
        ChatSettings.from_env()
    monkeypatch.setenv("DESKTOP_SAE_LLM_URL", "http://h:1/v1/")
    monkeypatch.setenv("DESKTOP_SAE_LLM_MODEL", "env-model")
    monkeypatch.setenv("DESKTOP_SAE_LLM_KEY", "sk-env")
    s = ChatSettings.from_env(timeout_s=3)
    assert (s.url, s.model, s.key, s.timeout_s) == ("http://h:1/v1/", "env-model", "sk-env", 3)
    assert s.endpoint == "http://h:1/v1/chat/completions"
    s = ChatSettings.from_env(url="http://x:2", model="arg-model", key="")
    assert (s.endpoint, s.model, s.key) == ("http://x:2/v1/chat/completions", "arg-model", "")


def test_client_sends_the_key_and_parses_the_answer(fake):
    c = ChatClient(ChatSettings(fake.url, "m", key="sk-test"))
    msgs = [{"role": "system", "content": "You explain"}, {"role": "user", "content": "Feature 3.\n1. <<x>>(9)"}]
    assert c.ask(msgs, parse_explanation) == 'the tokens "x"'
    assert fake.auth == ["Bearer sk-test"] and c.calls == 1


@pytest.mark.parametrize("mode", ["garbage", "500", "hang", "not_json"])
def test_client_retries_with_backoff_then_fails(fake, mode):
    fake.mode, fake.hang_s = mode, 1.0
    waits = []
    c = ChatClient(ChatSettings(fake.url, "m", tries=3, backoff_s=0.5, timeout_s=0.3), sleep=waits.append)
    with pytest.raises(CallFailedError, match="3 tries failed"):
        c.ask([{"role": "system", "content": "You explain"}, {"role": "user", "content": "Feature 1."}],
              parse_explanation)
    assert waits == [0.5, 1.0] and fake.requests == 3 and c.calls == 3


def test_client_recovers_within_its_tries_and_reports_refusals(fake):
    answers = iter(["garbage", "ok"])
    c = ChatClient(ChatSettings(fake.url, "m", tries=3, backoff_s=0.0))
    orig = c.complete

    def flaky(messages):
        fake.mode = next(answers)
        return orig(messages)

    c.complete = flaky
    assert c.ask([{"role": "system", "content": "You judge"}, {"role": "user", "content": 'F "k"\nExamples:\n'
                  "Example 0: k here\nExample 1: nothing"}], lambda t: parse_verdicts(t, 2)) == (True, False)
    assert fake.requests == 2
    port = fake.server.server_address[1]
    fake.close()
    refused = ChatClient(ChatSettings(f"http://127.0.0.1:{port}", "m", tries=2, backoff_s=0.0))
    out = refused.ask_many([([{"role": "user", "content": "x"}], parse_explanation)] * 2)
    assert all(isinstance(o, CallFailedError) and "refused" in str(o).lower() for o in out)


# --- statistics --------------------------------------------------------------------------------------------
def test_balanced_accuracy_and_intervals_by_hand():
    c = Confusion.of([True, True, True, True, False, False], [True, True, True, False, False, True])
    assert (c.tp, c.fn, c.tn, c.fp) == (3, 1, 1, 1)
    assert c.balanced_accuracy == pytest.approx(0.5 * (3 / 4 + 1 / 2))
    assert (c + c).balanced_accuracy == pytest.approx(c.balanced_accuracy)
    assert math.isnan(Confusion(tp=3).balanced_accuracy)
    lo, hi = wilson(8, 10)  # Wilson 95 %: 0.490 .. 0.943
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    flo, fhi = feature_interval(Confusion(8, 2, 8, 2))
    assert flo == pytest.approx(lo) and fhi == pytest.approx(hi)
    m, lo, hi = mean_with_bootstrap([0.5, 0.6, 0.7, 0.8, math.nan] * 20, seed=1)
    assert m == pytest.approx(0.65) and 0.6 < lo < 0.65 < hi < 0.7


# --- samples and prompts -----------------------------------------------------------------------------------
def _fc():
    act = [Context(i, ("a", " b", " c", " d"), (0.0, 2.0, 0.5, 0.0) if i % 2 else (1.0, 0.0, 0.0, 0.0))
           for i in range(6)]
    non = [Context(10 + i, ("x", " y", " z", " w"), (0.0,) * 4) for i in range(6)]
    return FeatureContexts(7, 0.012, 2.0, tuple(act[:2]), tuple(act[2:3]), tuple(act), tuple(non),
                           (" up",), (" down",))


def test_samples_follow_delphi():
    fc, rng = _fc(), np.random.default_rng(0)
    det = detection_samples(fc, rng)
    assert sum(s.truth for s in det) == 6 and len(det) == 12 and "<<" not in det[0].text
    fuzz = fuzzing_samples(fc, np.random.default_rng(0))
    right = [s for s in fuzz if s.truth]
    wrong = [s for s in fuzz if not s.truth]
    assert len(right) == len(wrong) == 6
    # correct highlights: tokens >= 0.3 x the context's maximum (0.5 >= 0.6 is false, so only " b" in odd ones)
    assert {s.text for s in right} == {"a<< b>> c d", "<<a>> b c d"}
    # wrong ones: ceil(mean active tokens per context) = ceil(1.5) = 2 tokens below that threshold
    assert all(s.text.count("<<") in (1, 2) for s in wrong) and not {s.text for s in wrong} & {s.text for s in right}
    assert [s.window for s in fuzz] != sorted(s.window for s in fuzz)  # shuffled
    # consecutive highlighted tokens share one pair of markers, as in delphi
    assert _highlighted(Context(0, ("a", " b", " c", " d"), (0.0,) * 4), {1, 2}) == "a<< b c>> d"


def test_the_explainer_sees_explaining_contexts_only():
    fc = _fc()
    user = explainer_messages(fc)[1]["content"]
    assert "Fires on 1.2% of tokens" in user and "' up'" in user and "' down'" in user
    assert marked_text(fc.explain_top[1], 2.0) == "a<< b>>(10)<< c>>(3) d"
    # a token below FIRE_FRACTION x the feature's max does not fire: it is not marked
    assert marked_text(Context(0, ("a", " b"), (0.19, 1.0)), 1.0) == "a<< b>>(10)"
    held_out_only = FeatureContexts(1, 0.1, 1.0, (), (), (Context(0, ("secret",), (1.0,)),), (), (), ())
    assert "secret" not in explainer_messages(held_out_only)[1]["content"]


# --- stores and Neuronpedia fields ---------------------------------------------------------------------------
def test_store_round_trip_and_refusals(tmp_path):
    s = ExplanationStore(tmp_path / "explanations.json", sae={"d_sae": 16})
    s.put(3, Explanation("bridges", protocol.Method.HUMAN, "helper-1", protocol.PROTOCOL_VERSION, "2026-01-01"))
    s.fail(4, "timed out")
    s.save()
    again = ExplanationStore.beside(tmp_path)
    assert again.explanations == s.explanations and again.failures[4].error == "timed out" and again.sae["d_sae"] == 16
    (tmp_path / "explanations.json").write_text(json.dumps({"format": "desktop-sae-explanations", "version": 99}))
    with pytest.raises(StoreError, match="version"):
        ExplanationStore.beside(tmp_path)
    (tmp_path / "explanations.json").write_text("{")
    with pytest.raises(StoreError):
        ExplanationStore.beside(tmp_path)
    assert ExplanationStore.beside(tmp_path / "none").explanations == {}


def test_neuronpedia_explanations_round_trip_and_filter(tmp_path):
    s = ExplanationStore(tmp_path / "a.json")
    s.put(2, Explanation("golden gate", protocol.Method.LLM, "qwen", protocol.PROTOCOL_VERSION, "d"))
    s.put(9, Explanation("code", protocol.Method.HUMAN, "me", protocol.PROTOCOL_VERSION, "d"))
    assert export_neuronpedia_explanations(s, tmp_path / "np.json", "smollm2-135m-it", "9-res-x") == 2
    entries = json.loads((tmp_path / "np.json").read_text())
    assert entries[0] == {"modelId": "smollm2-135m-it", "layer": "9-res-x", "index": "2", "description": "golden gate",
                          "explanationModelName": "qwen", "typeName": protocol.PROTOCOL_VERSION}
    theirs = [{"modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k", "index": "5", "description": "cats",
               "explanationModelName": "gpt-4o-mini", "typeName": "oai_token-act-pair", "createdAt": "2024-08-01"},
              {"modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k", "index": "5", "description": "dogs"},
              {"modelId": "gemma-2-2b", "layer": "3-gemmascope-res-16k", "index": 6, "description": "other layer"},
              {"modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k", "index": "99999", "description": "out"}]
    (tmp_path / "g.jsonl.gz").write_bytes(gzip.compress("\n".join(map(json.dumps, theirs)).encode()))
    got = read_neuronpedia_explanations(tmp_path / "g.jsonl.gz", 16384, "gemma-2-2b", "20-gemmascope-res-16k")
    assert list(got) == [5] and got[5].text == "cats" and got[5].method is protocol.Method.NEURONPEDIA
    assert got[5].protocol == "neuronpedia:oai_token-act-pair" and got[5].explainer == "gpt-4o-mini"
    fresh = ExplanationStore(tmp_path / "b.json")
    assert import_neuronpedia_explanations(tmp_path / "np.json", fresh, 16) == 2
    assert {f: e.text for f, e in ExplanationStore.load(tmp_path / "b.json").explanations.items()} == \
        {2: "golden gate", 9: "code"}
    with pytest.raises(NeuronpediaExplanationsError):
        read_neuronpedia_explanations(tmp_path / "np.json", 16, "gemma-2-2b")


def test_the_score_sample_is_seeded_and_read_back(tmp_path):
    from desktop_sae.cli import main
    from desktop_sae.core.explanations.score_sample import draw_sample, read_sample

    a = draw_sample(8192, 400, 7)
    assert a == draw_sample(8192, 400, 7) and a != draw_sample(8192, 400, 8)
    assert len(set(a)) == 400 and a == sorted(a) and 0 <= a[0] and a[-1] < 8192
    assert set(draw_sample(100, 10, 1, live=range(50, 60))) == set(range(50, 60))
    with pytest.raises(ValueError):
        draw_sample(10, 11, 0)
    out = tmp_path / "sample.json"
    assert main(["explanations", "sample", str(out), "--n", "12", "--seed", "3", "--d-sae", "64"]) == 0
    assert read_sample(out) == draw_sample(64, 12, 3)
    other = tmp_path / "other.json"  # a second sample drawn from the features the first did not take
    assert main(["explanations", "sample", str(other), "--n", "40", "--d-sae", "64", "--exclude", str(out)]) == 0
    assert not set(read_sample(other)) & set(read_sample(out)) and len(read_sample(other)) == 40
    (tmp_path / "bad.json").write_text('{"features": [1]}')
    with pytest.raises(ValueError, match="not a score sample"):
        read_sample(tmp_path / "bad.json")
