import pytest

from desktop_sae.core.classroom.quiz import Quiz

CANDIDATES = [
    (631, "bridges"),
    (3198, "Python code"),
    (576, "bugs"),
    (4083, "secrets"),
    (449, "scams"),
    (2735, "religion"),
    (885, "food"),
    (2812, "music"),
]


def test_rounds_have_four_distinct_choices_with_one_right_answer_and_are_seeded():
    a, b = Quiz(CANDIDATES, rounds=5, seed=3), Quiz(CANDIDATES, rounds=5, seed=3)
    hidden = []
    for _ in range(5):
        ra, rb = a.next_round(), b.next_round()
        assert ra == rb
        assert len(ra.choices) == 4 and len({c for c in ra.choices}) == 4
        assert [f for f, _ in ra.choices].count(ra.hidden) == 1 and ra.choices[ra.correct][0] == ra.hidden
        hidden.append(ra.hidden)
        a.answer(ra.correct)
        b.answer((rb.correct + 1) % 4)
    assert len(set(hidden)) == 5  # no repeats while the pool lasts
    assert a.next_round() is None and a.done
    assert a.score == 5 and b.score == 0


def test_scoring_counts_each_round_once():
    q = Quiz(CANDIDATES, rounds=2, seed=0)
    r = q.next_round()
    assert q.answer(r.correct) and q.reveal() == r.hidden
    with pytest.raises(RuntimeError):
        q.answer(r.correct)
    r2 = q.next_round()
    assert not q.answer((r2.correct + 2) % 4)
    assert q.score == 1 and [h[2] for h in q.history] == [True, False]


def test_too_few_labelled_features_is_refused():
    with pytest.raises(ValueError, match="at least 4"):
        Quiz([(1, "a"), (2, "a"), (3, "b"), (4, "")])
