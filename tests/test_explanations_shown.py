"""The explanations and scores the app shows beside an SAE (core.explanations.shown): none without files, a clear
problem for a damaged or newer file, and per feature its provenance and its own blind scores with intervals."""

import json

from desktop_sae.core.explanations import protocol
from desktop_sae.core.explanations.shown import NOT_SCORED, ShownExplanations
from desktop_sae.core.explanations.stats import Confusion
from desktop_sae.core.explanations.store import EXPLANATIONS, SCORES
from explained import write_explained


def test_missing_files_mean_no_explanations(tmp_path):
    shown = ShownExplanations.beside(tmp_path)
    assert shown.explanations == {} and shown.scores == {} and shown.problems == ()
    assert ShownExplanations.beside(None).explanations == {}
    assert shown.provenance(3) == "" and shown.score_text(3) == NOT_SCORED


def test_provenance_and_scores_with_intervals(tmp_path):
    write_explained(tmp_path, {3: "rivers", 4: "cities"}, {3: (Confusion(9, 1, 8, 2), Confusion(5, 5, 10, 0))})
    shown = ShownExplanations.beside(tmp_path)
    assert shown.explanations[3].text == "rivers" and shown.problems == ()
    assert shown.provenance(3) == "llm · test-llm · " + protocol.PROTOCOL_VERSION + " · 2026-12-05"
    text = shown.score_text(3)
    assert text.startswith("detection 0.85 (") and " · fuzzing 0.75 (" in text
    lo, hi = (float(x) for x in text.split("(")[1].split(")")[0].split("–"))
    assert lo < 0.85 < hi
    assert shown.score_text(4) == NOT_SCORED


def test_damaged_or_newer_files_are_reported_not_raised(tmp_path):
    (tmp_path / EXPLANATIONS).write_text("{not json")
    (tmp_path / SCORES).write_text(json.dumps({"format": "desktop-sae-explanation-scores", "version": 99}))
    shown = ShownExplanations.beside(tmp_path)
    assert shown.explanations == {} and shown.scores == {}
    assert len(shown.problems) == 2 and EXPLANATIONS in shown.problems[0] and "version 99" in shown.problems[1]
