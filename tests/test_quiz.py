"""Mystery-feature quiz: four distinct choices with one right answer, scoring, history, determinism."""

import json
from pathlib import Path

import pytest

from desktop_sae.core.quiz import Quiz, QuizError, demo_candidates, labelled_candidates

DEMO = Path(__file__).parents[1] / "resources" / "demo_features.json"
CANDS = [(631, "bridges"), (3198, "Python code"), (576, "code errors"), (4083, "secrets"), (449, "scams"),
         (2735, "religion"), (885, "food"), (2812, "music")]


def play(quiz, pick_right):
    rounds = []
    while not quiz.finished:
        r = quiz.next_round()
        hidden = quiz.reveal()
        right = dict(quiz.candidates)[hidden]
        rounds.append((r, hidden))
        quiz.answer(right if pick_right(r.number) else next(c for c in r.choices if c != right))
    return rounds


def test_each_round_has_four_distinct_choices_with_exactly_one_right():
    q = Quiz(CANDS, seed=3, rounds=20)
    for r, hidden in play(q, lambda n: True):
        assert len(r.choices) == 4 and len(set(r.choices)) == 4
        assert sum(c == dict(CANDS)[hidden] for c in r.choices) == 1
    assert q.score == 20


def test_scoring_and_history():
    q = Quiz(CANDS, seed=1, rounds=5)
    rounds = play(q, lambda n: n % 2 == 1)  # right in rounds 1, 3, 5
    assert q.score == 3 and len(q.history) == 5
    assert [a.correct for a in q.history] == [True, False, True, False, True]
    assert [a.feature for a in q.history] == [h for _, h in rounds]
    assert all(a.correct_label == dict(CANDS)[a.feature] for a in q.history)
    assert q.history[1].chosen != q.history[1].correct_label
    with pytest.raises(QuizError, match="over"):
        q.next_round()


def test_every_candidate_is_hidden_once_before_any_repeat():
    q = Quiz(CANDS, seed=7, rounds=8)
    assert sorted(h for _, h in play(q, lambda n: True)) == sorted(f for f, _ in CANDS)


def test_same_seed_same_quiz_other_seed_differs():
    def deal(seed):
        q = Quiz(CANDS, seed=seed, rounds=6)
        return [(r.choices, h) for r, h in play(q, lambda n: True)]
    assert deal(5) == deal(5)
    assert deal(5) != deal(6)


def test_answer_by_index_and_misuse():
    q = Quiz(CANDS, seed=0, rounds=2)
    with pytest.raises(QuizError):
        q.answer(0)
    with pytest.raises(QuizError):
        q.reveal()
    r = q.next_round()
    with pytest.raises(QuizError, match="answer the current round"):
        q.next_round()
    with pytest.raises(QuizError, match="not one of"):
        q.answer("not a label")
    right_index = r.choices.index(dict(CANDS)[q.reveal()])
    assert q.answer(right_index).correct
    with pytest.raises(QuizError):
        q.answer(right_index)  # already answered


def test_bad_candidates_are_refused():
    with pytest.raises(QuizError, match="at least 4"):
        Quiz([(1, "a"), (2, "b"), (3, "B"), (4, "c")])  # labels differ only by case: 3 distinct
    with pytest.raises(QuizError, match="twice"):
        Quiz([(1, "a"), (1, "b"), (3, "c"), (4, "d")])
    with pytest.raises(QuizError, match="no label"):
        Quiz([(1, "a"), (2, ""), (3, "c"), (4, "d")])


def test_demo_candidates_and_labelled_candidates():
    demo = demo_candidates(DEMO)
    concepts = json.loads(DEMO.read_text())["concepts"]
    assert [f for f, _ in demo] == [c["feature"] for c in concepts]
    assert ("bridges (Golden Gate)" in dict(demo).values())
    Quiz(demo, seed=0).next_round()  # enough distinct labels for a quiz
    labels = ["Bridge → also", "", "!!", "music / song", "Python", "python", "secret", "x", "food"]
    picked = labelled_candidates(labels, n=10, seed=0)
    assert sorted(picked) == [(0, "Bridge → also"), (3, "music / song"), (6, "secret"), (8, "food")]
    assert labelled_candidates(labels, n=2, seed=0) == labelled_candidates(labels, n=2, seed=0)
    assert len(labelled_candidates(labels, n=2, seed=0)) == 2
