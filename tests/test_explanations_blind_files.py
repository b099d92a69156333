"""Scoring offline (docs/EXPLANATIONS.md, "Scoring offline"): blind prompt files per scorer and a separate key; each
feature's variants go to different scorers; answers read back into the same confusion tables as the endpoint path,
and nothing is stored half."""

import json

import pytest

from desktop_sae.core.explanations import protocol, runs
from desktop_sae.core.explanations.blind_files import KEY, plan_blind_prompts, read_blind_answers, write_blind_files
from desktop_sae.core.explanations.store import Explanation, ExplanationStore, ScoreStore, now
from test_explanations_runs import lm, random_bank, windows  # noqa: F401  (module fixtures)

V = list(protocol.Variant)


@pytest.fixture
def explained(random_bank, tmp_path):  # noqa: F811
    store = ExplanationStore(tmp_path / "explanations.json")
    live = [f for f in range(random_bank.d_sae) if runs.scorable(random_bank.contexts(f))][:12]
    for f in live:
        store.put(f, Explanation(f"the word number {f}", protocol.Method.AGENT, "test", protocol.PROTOCOL_VERSION,
                                 now()))
    labels = {f: f"tok{f} → x" for f in live}
    return store, labels, live


def test_blind_files_keep_the_key_apart_and_each_scorer_sees_a_feature_once(random_bank, explained,  # noqa: F811
                                                                              tmp_path):
    store, labels, live = explained
    with pytest.raises(ValueError, match="at least as many scorers"):
        plan_blind_prompts(random_bank, live, V, store, labels, n_scorers=2)
    prompts = plan_blind_prompts(random_bank, live, V, store, labels, n_scorers=3)
    assert len({p.id for p in prompts}) == len(prompts)
    for f in live:
        by_variant = {v: {p.scorer for p in prompts if p.feature == f and p.variant is v} for v in V}
        assert all(len(s) == 1 for s in by_variant.values())  # a (feature, variant) is one scorer's
        assert len(set.union(*by_variant.values())) == 3  # the three variants go to three scorers
        fc = random_bank.contexts(f)
        det = [t for p in prompts if p.feature == f and p.variant is V[0] and p.kind is protocol.Scorer.DETECTION
               for t in p.truths]
        assert sorted(det) == sorted([True] * len(fc.score_activating) + [False] * len(fc.score_non_activating))
    dirs = write_blind_files(prompts, tmp_path / "blind")
    assert set(dirs) == {0, 1, 2} and (tmp_path / "blind" / KEY).exists()
    for d in dirs.values():
        text = "".join(p.read_text() for p in sorted(d.iterdir()))
        assert KEY not in [p.name for p in d.iterdir()]
        assert not any(v.value in text for v in (protocol.Variant.RANDOM_OTHER, protocol.Variant.TOKEN_LABEL))
        assert "truth" not in text and text.count("=== S") == sum(1 for p in prompts if dirs[p.scorer] == d)


def test_blind_answers_are_read_into_scores_and_nothing_is_stored_half(random_bank, explained,  # noqa: F811
                                                                       tmp_path):
    store, labels, live = explained
    prompts = plan_blind_prompts(random_bank, live, V, store, labels, n_scorers=3)
    write_blind_files(prompts, tmp_path / "blind")
    key = json.loads((tmp_path / "blind" / KEY).read_text())["items"]
    lines: dict[int, list[str]] = {0: [], 1: [], 2: []}
    half = next(p for p in prompts if p.scorer == 2)  # one (feature, variant) of scorer 3 left half-answered
    bad = next(p for p in prompts if p.scorer == 1)  # one malformed answer from scorer 2
    for p in prompts:
        if p.scorer == 0:  # a perfect scorer
            lines[0].append(f"{p.id}\t[{','.join(str(int(t)) for t in p.truths)}]")
        elif p.scorer == 1:  # says yes to everything
            lines[1].append(f"{p.id}\t" + ("[1, 1]" if p.id == bad.id else f"[{','.join('1' * len(p.truths))}]"))
        elif (p.feature, p.variant) != (half.feature, half.variant) or p.id == half.id:
            lines[2].append(f"{p.id}\t[{','.join('0' * len(p.truths))}]")
    for k, ls in lines.items():
        (tmp_path / "blind" / f"S{k + 1}" / "answers.tsv").write_text("\n".join(ls) + "\n")
    scores = ScoreStore(tmp_path / "explanation_scores.json")
    r = read_blind_answers(tmp_path / "blind", scores, "agent S{k}")
    groups = {(p.feature, p.variant) for p in prompts}
    assert (r.stored, r.failed, r.incomplete) == (len(groups) - 2, 1, 1)
    saved = ScoreStore.beside(tmp_path)
    assert saved.failures[bad.variant][bad.feature].error.startswith("malformed answer")
    assert half.feature not in saved.done(half.variant) and bad.feature not in saved.done(bad.variant)
    for (f, v) in groups - {(half.feature, half.variant), (bad.feature, bad.variant)}:
        s = saved.scores[v][f]
        k = next(p.scorer for p in prompts if (p.feature, p.variant) == (f, v))
        assert s.scorer == f"agent S{k + 1}" and s.explanation == key[next(
            p.id for p in prompts if (p.feature, p.variant) == (f, v))]["explanation"]
        fc = random_bank.contexts(f)
        assert s.detection.tp + s.detection.fn == len(fc.score_activating)
        assert s.fuzzing.tp + s.fuzzing.fn == len(fc.score_activating)
        expected = {0: 1.0, 1: 0.5, 2: 0.5}[k]  # perfect; all yes; all no
        assert s.balanced_accuracy(protocol.Scorer.DETECTION) == pytest.approx(expected)
    assert saved.scores[V[0]][live[0]].explanation == store.text(live[0]) or live[0] not in saved.done(V[0])
