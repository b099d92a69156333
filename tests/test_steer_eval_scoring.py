"""The steering evaluation's torch-free arithmetic, checked against hand computations, and its data files."""

import math
from pathlib import Path

import pytest

from desktop_sae.core.steer_eval import data
from desktop_sae.core.steer_eval.scoring import (
    concept_score,
    degenerate,
    fluency_score,
    fluency_threshold,
    harmonic_mean,
    keyword_hits,
    keyword_pattern,
    log_strengths,
    pick_strength,
    relevance_score,
    share_below,
)
from desktop_sae.core.support.prompt_file import parse_seeds, read_prompts

ROOT = Path(__file__).resolve().parents[1] / "resources"


def test_keywords_match_whole_words_with_inflections_case_insensitively():
    p = keyword_pattern(["eat", "bridge", "golden gate", "print(", "def ", "()"])
    assert keyword_hits("What a great day", p) == []  # the old substring rule counted "great" as "eat"
    assert keyword_hits("Eating well. BRIDGES!", p) == ["eating", "bridges"]
    assert keyword_hits("the Golden Gate opened", p) == ["golden gate"]
    assert keyword_hits("undefined behaviour", p) == [] and keyword_hits("def f: print(1)", p) == ["def ", "print("]
    assert keyword_hits("call f() now", p) == ["()"]
    assert keyword_hits("the bridgehead", p) == []
    assert keyword_pattern(["", "  "]) is None and keyword_hits("anything", None) == []


def test_degenerate_catches_loops_only():
    assert degenerate([1, 2, 3, 3, 3, 3, 4])
    assert degenerate([7, 1, 7, 2, 7, 3, 7, 4, 7, 5])  # one token is 50 % of 10
    assert not degenerate([1, 2, 3, 1, 2, 3, 4, 5])
    assert not degenerate([5, 5, 5])


def test_concept_harmonic_mean_and_threshold_share_by_hand():
    assert [concept_score(a, b) for a, b in ((0, 0), (1, 0), (0, 1), (1, 1))] == [0, 0.5, 0.5, 1]
    assert harmonic_mean([1.0, 0.5, 0.5]) == pytest.approx(3 / (1 + 2 + 2))
    assert harmonic_mean([0.2, 0.2, 0.2]) == pytest.approx(0.2)
    assert harmonic_mean([1.0, 0.0, 1.0]) == 0.0 and harmonic_mean([]) == 0.0
    assert share_below([1.0, 2.0, 3.0, float("nan")], 2.0) == 0.5
    assert math.isnan(share_below([], 1.0))


def test_fluency_is_one_at_default_half_at_threshold_zero_at_twice():
    assert fluency_score(1.2, 1.2, 3.5) == 1.0
    assert fluency_score(0.5, 1.2, 3.5) == 1.0  # more expected than the default: clipped
    assert fluency_score(3.5, 1.2, 3.5) == pytest.approx(0.5)
    assert fluency_score(2.35, 1.2, 3.5) == pytest.approx(0.75)
    assert fluency_score(5.8, 1.2, 3.5) == 0.0 and fluency_score(9.0, 1.2, 3.5) == 0.0
    assert fluency_score(1.2, 1.2, 3.5, is_degenerate=True) == 0.0
    assert fluency_score(float("nan"), 1.2, 3.5) == 0.0
    assert fluency_threshold(1.1, 3.4) == 3.4 and fluency_threshold(1.1, None) == 4.5
    assert fluency_threshold(5.7, 5.6) == pytest.approx(5.95)  # kept 0.25 above the default answers


def test_relevance_score_is_relative_to_the_default_answers():
    assert relevance_score(0.3, 0.6) == pytest.approx(0.5)
    assert relevance_score(0.9, 0.6) == 1.0 and relevance_score(-0.2, 0.6) == 0.0
    assert relevance_score(0.025, 0.0) == pytest.approx(0.5)  # reference floored at 0.05
    assert relevance_score(float("nan"), 0.6) == 0.0


def test_pick_strength_best_then_weakest():
    assert pick_strength({0.5: 0.1, 1.0: 0.4, 2.0: 0.3}) == 1.0
    assert pick_strength({4.0: 0.4, 1.0: 0.4, 8.0: 0.2}) == 1.0
    assert pick_strength({1.0: float("nan"), 2.0: 0.0}) == 2.0
    with pytest.raises(ValueError):
        pick_strength({})
    s = log_strengths(0.5, 32, 7)
    assert s[0] == 0.5 and s[-1] == 32 and all(b / a == pytest.approx(2.0, rel=0.02) for a, b in zip(s, s[1:]))


def test_seed_lists_and_ranges(tmp_path):
    assert parse_seeds("1000-1002") == [1000, 1001, 1002]
    assert parse_seeds("1,5,9") == [1, 5, 9] and parse_seeds("1,3-4,1") == [1, 3, 4]
    for bad in ("x", "5-3", "", "1-99999"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_prompt_files_text_and_jsonl(tmp_path):
    (tmp_path / "p.txt").write_text("# comment\nfirst\n\n second \n")
    assert read_prompts(tmp_path / "p.txt") == ["first", "second"]
    (tmp_path / "p.jsonl").write_text('{"prompt": "a", "x": 1}\n\n{"prompt": "b"}\n')
    assert read_prompts(tmp_path / "p.jsonl") == ["a", "b"]
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n')
    with pytest.raises(ValueError, match="line 1"):
        read_prompts(tmp_path / "bad.jsonl")
    with pytest.raises(ValueError, match="cannot read"):
        read_prompts(tmp_path / "missing.txt")


def test_shipped_splits_are_disjoint_and_big_enough():
    sp = data.load_splits(root=ROOT)
    assert len(sp.selection) >= 20 and len(sp.report) >= 20 and not set(sp.selection) & set(sp.report)
    assert len(data.neutral_texts(ROOT)) >= 12


def test_every_demo_concept_has_keywords_a_description_and_concept_sentences():
    demo = data.demo_concepts(ROOT)
    assert demo
    for name in demo:
        c = data.load_concept(name, ROOT)
        assert c.features and c.keywords and c.description and len(c.texts) >= 4, name


def test_user_prompt_file_is_split_alternately(tmp_path):
    (tmp_path / "p.txt").write_text("a\nb\nc\nd\ne\n")
    sp = data.load_splits(tmp_path / "p.txt")
    assert sp.selection == ("a", "c", "e") and sp.report == ("b", "d")
    assert data.load_splits(tmp_path / "p.txt", n_prompts=2).selection == ("a", "c")
    (tmp_path / "q.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="at least 2"):
        data.load_splits(tmp_path / "q.txt")
