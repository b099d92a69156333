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


def test_the_quiz_pool_keeps_one_recognisable_unit_per_concept(tmp_path):
    from desktop_sae.core.classroom.quiz_pool import (
        POOL_FILE,
        QuizUnit,
        UnitKind,
        choose_pool,
        load_quiz_pool,
        write_pool,
    )

    def unit(concept, kind, feats, kw, deg=0.0):
        return QuizUnit(concept, concept.title(), kind, tuple(feats), (1.0,) + (0.5,) * (len(feats) - 1), 0.8,
                        "max", "add", kw, deg)

    units = [unit("music", UnitKind.SET, [1, 2], 1.0), unit("music", UnitKind.FEATURE, [1], 0.33),
             unit("food", UnitKind.SET, [3, 4], 0.5), unit("food", UnitKind.FEATURE, [4], 0.6),
             unit("bridge", UnitKind.SET, [5, 6], 0.17), unit("loops", UnitKind.SET, [7, 8], 0.9, deg=0.5)]
    pool = choose_pool(units)
    # music: its set (the feature alone is not recognisable); food: the single feature beats the set;
    # bridge: not recognisable; loops: recognisable words but mostly repetition loops
    assert [(u.concept, u.kind) for u in pool] == [("music", UnitKind.SET), ("food", UnitKind.FEATURE)]
    assert load_quiz_pool(tmp_path) is None  # no pool beside this SAE
    write_pool(tmp_path, pool, "test")
    again = load_quiz_pool(tmp_path)
    assert again == pool
    rows = again[0].rows("mystery feature")  # a set steers as a whole, every row hidden under one label
    assert [(r.feature, r.strength, r.label) for r in rows] == [(1, 0.8, "mystery feature"),
                                                               (2, 0.4, "mystery feature")]
    assert [r.feature for r in again[1].rows("x")] == [4]
    (tmp_path / POOL_FILE).write_text('{"format": "desktop-sae-quiz-pool", "units": [{"concept": "a"}]}')
    assert load_quiz_pool(tmp_path) is None  # malformed: no pool, no crash
