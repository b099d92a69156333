"""Demo concepts as weighted feature sets: derivation from a contrast, expansion in presets and lessons, the
evaluation's weighted steer, the demo table and its rebuild from saved results."""

from __future__ import annotations

import json

import numpy as np
import pytest

from desktop_sae.app.chat_jobs import scaled_rows as rows_at
from desktop_sae.core.features.contrast import ContrastHit, TextMeans, feature_set, rank_features
from desktop_sae.core.presets.demo_concepts import DemoConcept, demo_feature_sets, load_demo_concepts, quiz_features
from desktop_sae.core.presets.file_format import parse_preset, preset_to_json
from desktop_sae.core.steer_eval import data
from desktop_sae.core.steer_eval.evaluate import feature_steering
from desktop_sae.core.steer_eval.table import demo_entry_update, markdown_table, meets
from desktop_sae.core.steering.specs import SteerSpec
from desktop_sae.core.support.errors import SteeringError


def _means(rows):
    a = np.asarray(rows, dtype=np.float64)
    return TextMeans(a, a > 0, np.zeros((len(a), 2)))


def test_feature_set_keeps_the_top_k_weighted_by_score_over_the_leads():
    # 4 features; feature 2 separates most (in x max units), then 0, then 3; feature 1 fires more on negatives
    pos = _means([[2.0, 0.0, 3.0, 1.0], [2.0, 0.0, 3.0, 1.0]])
    neg = _means([[0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    hits = rank_features(pos, neg, np.array([4.0, 1.0, 3.0, 4.0]))
    assert [h.feature for h in hits] == [2, 0, 3]  # scores 1.0, 0.5, 0.25; feature 1 is negative: left out
    assert feature_set(hits, 2) == ((2, 0), (1.0, 0.5))
    assert feature_set(hits, 10) == ((2, 0, 3), (1.0, 0.5, 0.25))
    with pytest.raises(ValueError, match="fires more"):
        feature_set((ContrastHit(1, -0.2, 0, 1, 0, 1),), 3)


def _demo(tmp_path, entry):
    f = tmp_path / "demo.json"
    f.write_text(json.dumps({"concepts": [entry]}))
    return load_demo_concepts(f)


def test_a_demo_set_expands_into_rows_at_strength_times_weight(tmp_path):
    demo = _demo(tmp_path, {"concept": "gg", "feature": 7, "features": [7, 3, 9], "weights": [1.0, 0.5, 0.25],
                            "label": "Golden Gate", "strength": 2.0, "unit": "max", "method": "add"})
    assert demo["gg"].members == ((7, 1.0), (3, 0.5), (9, 0.25))
    from tests.test_presets import _preset

    d = json.loads(preset_to_json(_preset()))
    d["steering"]["features"] = [{"demo": "gg", "strength": 4}, {"id": 1, "strength": 1.0}]
    p = parse_preset(json.dumps(d), "p.json", demo)
    rows = [(s.feature, s.strength, s.unit) for s in p.steering.features]
    assert rows == [(7, 4.0, "max"), (3, 2.0, "max"), (9, 1.0, "max"), (1, 1.0, "raw")]
    assert p.demo_refs == {0: "gg", 1: "gg", 2: "gg"}
    assert p.steering.features[1].label == "Golden Gate (2 of 3)"
    assert demo_feature_sets(None) == {}  # sets only for the bundled SAE


def test_a_malformed_set_falls_back_to_the_single_feature(tmp_path):
    for bad in ({"features": [7, "x"]}, {"features": [7, 3], "weights": [1.0, float("nan")]}, {"features": [7]}):
        demo = _demo(tmp_path, {"concept": "gg", "feature": 7, **bad})
        assert demo["gg"].members == () and demo["gg"].features == (7,)
        spec = SteerSpec(7, 2.0, "max")
        assert demo["gg"].rows(spec) == (spec,)


def test_sweep_rows_scale_a_set_with_its_lead():
    set_ = (SteerSpec(7, 2.0, "max"), SteerSpec(3, 1.0, "max"))
    assert [r.strength for r in rows_at(set_, 6.0)] == [6.0, 3.0]
    assert rows_at(SteerSpec(7, 2.0, "max"), 5.0) == (SteerSpec(7, 5.0, "max"),)


def test_the_evaluation_steers_each_feature_at_strength_times_weight():
    c = data.Concept("gg", (7, 3), ("golden gate",), "the Golden Gate", weights=(1.0, 0.4))
    st = feature_steering(c, 2.5, "add")
    assert [(s.feature, s.strength, s.unit) for s in st.features] == [(7, 2.5, "max"), (3, 1.0, "max")]
    plain = data.Concept("b", (5,), ("bridge",), "bridges")
    assert [s.strength for s in feature_steering(plain, 3.0, "clamp").features] == [3.0]


def test_load_concept_reads_sets_and_the_answers_they_came_from(tmp_path):
    (tmp_path / "steer_eval").mkdir()
    (tmp_path / "demo_features.json").write_text(json.dumps({"concepts": [
        {"concept": "gg", "feature": 7, "features": [7, 3], "weights": [1.0, 0.5], "keywords": ["golden gate"]},
        {"concept": "bad", "feature": 7, "features": [7, 3], "weights": [1.0], "keywords": ["x"]}]}))
    (tmp_path / "steer_eval" / "concept_answers.json").write_text(json.dumps(
        {"neutral": ["tea is nice", ""], "concepts": {"gg": ["the Golden Gate is orange", "San Francisco fog"]}}))
    c = data.load_concept("gg", tmp_path)
    assert (c.features, c.weights) == ((7, 3), (1.0, 0.5))
    assert c.texts == ("the Golden Gate is orange", "San Francisco fog") and c.negatives == ("tea is nice",)
    with pytest.raises(SteeringError, match="2 features but 1 weights"):
        data.load_concept("bad", tmp_path)


def _result(name, kw, nll, combined, md_combined, n=20):
    row = lambda k, v, c: {"n": n, "keyword_share": k, "nll_mean": v, "combined": c, "concept": 0.5,  # noqa: E731
                           "fluency": 0.5, "relevance": 0.5, "fires_share": 0.5, "fluent_share": 0.9}
    return {"concept": {"name": name, "label": name.title(), "features": [7, 3], "weights": [1.0, 0.5]},
            "settings": {"method": "add", "seeds": [0, 1], "max_new_tokens": 32},
            "report": {"feature": {"strength": 1.5, **row(kw, nll, combined)}, "default": row(0.0, 1.2, 0.1),
                       "prompting": row(0.9, 1.5, 0.7), "mean_difference": row(0.4, 3.0, md_combined)}}


def test_goals_by_hand():
    assert meets(_result("golden_gate", 0.5, 4.0, 0.3, 0.9))  # Golden Gate: share and NLL only
    assert not meets(_result("golden_gate", 0.45, 3.0, 0.3, 0.1))
    assert not meets(_result("golden_gate", 0.9, 4.01, 0.3, 0.1))
    assert meets(_result("music", 0.6, 4.5, 0.5, 0.4))
    assert not meets(_result("music", 0.6, 4.5, 0.4, 0.4))  # must beat the mean-difference baseline
    assert not meets(_result("music", 0.55, 2.0, 0.9, 0.1))


def test_table_rows_and_demo_update():
    r = _result("music", 0.75, 3.2, 0.55, 0.35)
    md = markdown_table([r]).splitlines()
    assert len(md) == 3 and md[2].startswith("| Music | #7 #3·0.5 | add 1.5× | 15/20 · 0/20 · 18/20 · 8/20 ")
    assert "| 3.20 · 3.00 · 1.50 | 0.55 · 0.35 · 0.70 | met (≥ 60%, NLL ≤ 4.5) |" in md[2]
    up = demo_entry_update(r)
    assert up["strength"] == 1.5 and up["measured"]["goal_met"] is True
    assert up["measured"]["feature"]["keyword_share"] == 0.75 and up["measured"]["mean_difference"]["combined"] == 0.35


def test_table_cli_updates_the_demo_file_atomically(tmp_path, capsys):
    from desktop_sae.cli import main

    demo = tmp_path / "demo.json"
    demo.write_text(json.dumps({"sae": "x", "concepts": [{"concept": "music", "feature": 7, "label": "Music"}]}))
    good, other = tmp_path / "music.json", tmp_path / "food.json"
    good.write_text(json.dumps(_result("music", 0.75, 3.2, 0.55, 0.35)))
    other.write_text(json.dumps(_result("food", 0.75, 3.2, 0.55, 0.35)))
    assert main(["eval-steering", "--table", str(good), "--update-demo", str(demo)]) == 0
    out = capsys.readouterr().out
    assert "| Music |" in out and "updated 1 concepts" in out
    d = json.loads(demo.read_text())
    assert d["sae"] == "x" and d["concepts"][0]["strength"] == 1.5 and d["concepts"][0]["feature"] == 7
    before = demo.read_text()
    assert main(["eval-steering", "--table", str(good), str(other), "--update-demo", str(demo)]) != 0
    assert "no demo concept named food" in capsys.readouterr().err and demo.read_text() == before
    (tmp_path / "junk.json").write_text("{")
    assert main(["eval-steering", "--table", str(tmp_path / "junk.json")]) != 0
    assert "not an eval-steering result" in capsys.readouterr().err


def test_shipped_demo_sets_are_valid_for_the_bundled_sae():
    demo = data.demo_concepts()
    for name in demo:
        c = data.load_concept(name)
        assert len(c.features) == len(c.weights) >= 2 and c.weights[0] == 1.0, name
        assert all(0 < w <= 1 for w in c.weights) and len(set(c.features)) == len(c.features), name
        assert len(c.texts) >= 10 and len(c.negatives) >= 10, name
    assert data.load_concept("golden_gate").keywords == ("golden gate", "san francisco")


def test_the_quiz_hides_a_recognisable_member_of_each_set_once(tmp_path):
    demo = load_demo_concepts()
    picks = quiz_features(demo)
    assert len(picks) == len(demo) and len({f for f, _ in picks}) == len(picks)
    for f, c in picks:
        assert f in c.features and len(c.features) > 1  # a member of the concept's own set
    shared = _demo(tmp_path, {"concept": "a", "feature": 7}) | {"b": DemoConcept("b", 7),
                                                                  "c": DemoConcept("c", 9, quiz_feature=7)}
    assert [f for f, _ in quiz_features(shared)] == [7]  # one feature, one concept


def test_one_rule_makes_a_concepts_rows_with_one_set_of_defaults(tmp_path):
    """Presets, lessons and the quiz make a concept's rows with DemoConcept.rows: the concept's own strength, unit
    and method, else DEFAULT_STRENGTH × max activation and add; an explicit strength is × max activation."""
    from desktop_sae.core.presets.demo_concepts import DEFAULT_STRENGTH

    bare = _demo(tmp_path, {"concept": "gg", "feature": 7, "features": [7, 3], "weights": [1.0, 0.5]})["gg"]
    assert [(r.feature, r.strength, r.unit, r.method) for r in bare.rows()] == [
        (7, DEFAULT_STRENGTH, "max", "add"), (3, DEFAULT_STRENGTH / 2, "max", "add")]
    told = _demo(tmp_path, {"concept": "gg", "feature": 7, "strength": 40, "unit": "raw", "method": "clamp"})["gg"]
    assert [(r.strength, r.unit, r.method) for r in told.rows()] == [(40.0, "raw", "clamp")]
    assert [(r.strength, r.unit, r.method) for r in told.rows(told.lead(2.0))] == [(2.0, "max", "clamp")]


def test_the_steering_results_files_summaries_are_what_the_code_computes_from_their_raw_data():
    """No summary value is typed by hand: each steering results file's summary equals the one
    `python packaging/corpus/run_demo_eval.py --summarise` computes from the raw data in the file."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("run_demo_eval", root / "packaging" / "corpus" / "run_demo_eval.py")
    assert spec and spec.loader
    rde = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rde)
    results = root / "docs" / "results"
    rels = [*rde.OLD_FILES, "steer_eval/checks/recheck.json", "steer_eval/checks/fix_code.json"]
    assert {f"steer_eval/{p.name}" for p in results.glob("steer_eval/*.json")} <= set(rels)
    for rel in rels:
        rec = json.loads((results / rel).read_text())
        assert rec["summary"] == json.loads(json.dumps(rde._summary_of(rel, rec))), rel
    music = json.loads((results / "steer_eval" / "music.json").read_text())["summary"]
    assert music["report_on_concept"] == {"feature": "16/20", "default": "0/20", "prompting": "3/20",
                                          "mean_difference": "15/20"} and music["goal_met"] is True
