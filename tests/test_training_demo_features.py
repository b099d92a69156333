"""resources/demo_features.json: well-formed, rebuilt from the shipped evaluation results (and the README's table
with it), and the two strongest concepts re-checked on prompts and seeds no measurement used, against the rate
calibrated in docs/results/steer_eval/checks/recheck.json (integration)."""

import json
import re
from pathlib import Path

import pytest

from desktop_sae.core.steer_eval.table import demo_entry_update, markdown_table

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo_features.json"
RESULTS = ROOT / "docs" / "results" / "steer_eval"


def _doc():
    assert DEMO.exists(), "resources/demo_features.json must ship with the default SAE"
    return json.loads(DEMO.read_text())


def _results():
    doc = _doc()
    return [json.loads((RESULTS / f"{c['concept']}.json").read_text()) for c in doc["concepts"]]


def test_demo_features_file_is_well_formed():
    concepts = _doc()["concepts"]
    assert len(concepts) >= 8
    assert {"golden_gate", "code", "bugs", "secrets", "scam"} <= {c["concept"] for c in concepts}
    for c in concepts:
        assert isinstance(c["feature"], int) and c["label"] and c["feature"] == c["features"][0]
        assert len(c["features"]) == len(c["weights"]) and c["weights"][0] == 1.0
        assert c["method"] in ("add", "clamp", "orth") and c["strength"] > 0 and c["unit"] == "max"
        m = c["measured"]
        assert m["feature"]["n"] >= 20 and isinstance(m["goal_met"], bool)
        for row in ("feature", "default", "prompting", "mean_difference"):
            for k in ("keyword_share", "combined", "fluent_share"):
                assert 0.0 <= m[row][k] <= 1.0, (c["concept"], row, k)
            assert m[row]["nll_mean"] > 0


def test_demo_entries_and_the_readme_table_come_from_the_shipped_results():
    """Each concept's measured block is what `eval-steering --table ... --update-demo` writes from its result file,
    and the README's demo table is the Markdown those files give."""
    results = _results()
    doc = {c["concept"]: c for c in _doc()["concepts"]}
    for r in results:
        c = doc[r["concept"]["name"]]
        assert c["features"] == r["concept"]["features"] and c["weights"] == r["concept"]["weights"]
        for k, v in demo_entry_update(r).items():
            assert c[k] == v, (r["concept"]["name"], k)
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- demo-table -->\n(.*?)\n<!-- /demo-table -->", readme, re.S)
    assert block and block.group(1) == markdown_table(results)


RECHECK = ROOT / "docs" / "results" / "steer_eval" / "checks" / "recheck.json"


def test_the_recheck_draws_prompts_and_seeds_no_measurement_used():
    """The re-check's prompts are in neither split nor among the concept questions, its draw prompts were never
    calibrated on, and its seeds are none that any measurement used."""
    from desktop_sae.core.steer_eval import recheck as rc
    from desktop_sae.core.steer_eval.data import load_splits

    splits = load_splits()
    questions = json.loads((ROOT / "resources" / "steer_eval" / "concept_questions.json").read_text())
    seen = {*splits.selection, *splits.report, *questions["neutral"], *(q for qs in questions["concepts"].values()
                                                                       for q in qs)}
    assert not seen & {*rc.CALIBRATION_PROMPTS, *rc.DRAW_PROMPTS}
    assert not set(rc.CALIBRATION_PROMPTS) & set(rc.DRAW_PROMPTS)
    rec = json.loads(RECHECK.read_text())
    used = {*rec["settings"]["seeds"], *_doc()["concepts"][0]["measured"]["seeds"], 100, 101}  # 100, 101: sets
    assert rec["settings"]["prompts"] == list(rc.CALIBRATION_PROMPTS)
    assert not used & set(range(*rc.DRAW_SEEDS)) and rc.DRAW_SEEDS[1] - rc.DRAW_SEEDS[0] > 10_000
    assert [r["concept"] for r in rec["rows"]] == [c["concept"] for c in rc.recheck_concepts(_demo_concepts())]


def _demo_concepts():
    from desktop_sae.core.steer_eval.data import demo_concepts

    return demo_concepts()


def test_the_pass_mark_is_a_binomial_bound():
    from desktop_sae.core.steer_eval.recheck import _binom_cdf, min_hits, rate_lower_bound

    assert rate_lower_bound(0, 60) == 0.0 and 0.78 < rate_lower_bound(53, 60) < 53 / 60
    assert abs(1 - _binom_cdf(52, 60, rate_lower_bound(53, 60)) - 0.05) < 1e-6  # P(X >= 53) = 5 % at the bound
    k = min_hits(0.8, 16, 0.005)
    assert _binom_cdf(k - 1, 16, 0.8) <= 0.005 < _binom_cdf(k, 16, 0.8)
    assert min_hits(0.05, 16) == 0


@pytest.mark.integration
def test_the_two_strongest_concepts_steer_unseen_prompts_and_seeds_at_their_calibrated_rate(bundled_lm):
    """The two concepts with the largest keyword gain on the report split, steered as their sets at the chosen
    strength, on prompts and seeds drawn afresh (never used by any measurement): at least the pass mark of on-concept
    answers, the count that a concept steering at the lower 95 % bound of its calibrated rate
    (docs/results/steer_eval/checks/recheck.json) reaches with probability 1 - ALPHA. Set DESKTOP_SAE_RECHECK_SEED to
    replay a draw."""
    import os
    import random

    from desktop_sae.core.engine.session import Session
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.steer_eval import recheck as rc
    from desktop_sae.core.steer_eval.data import load_concept
    from desktop_sae.core.steer_eval.evaluate import feature_steering
    from desktop_sae.core.support.paths import default_sae_dir

    cal = json.loads(RECHECK.read_text())["summary"]
    draw_seed = int(os.environ.get("DESKTOP_SAE_RECHECK_SEED") or random.SystemRandom().randrange(2 ** 32))
    rng = random.Random(draw_seed)
    session = Session(bundled_lm, load_sae(default_sae_dir()))
    for entry in rc.recheck_concepts(_demo_concepts()):
        concept = load_concept(entry["concept"])
        pairs = rc.draw(rc.DRAW_N_PROMPTS, rc.DRAW_N_SEEDS, rng)
        t = rc.tally(session, concept, feature_steering(concept, entry["strength"], entry["method"]),
                     entry["strength"], pairs, with_default=False)
        need = rc.min_hits(cal[t.concept]["steered_rate_lower_bound"], t.n)
        assert need >= t.n // 3, "the pass mark is too low to tell steering from none"
        assert t.steered >= need, (f"{t.concept}: {t.steered}/{t.n} answers on concept, pass mark {need}/{t.n} "
                                   f"(calibrated {cal[t.concept]['steered_on_concept']}); DESKTOP_SAE_RECHECK_SEED="
                                   f"{draw_seed}", [a["steered"] for a in t.answers])
