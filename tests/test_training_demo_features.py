"""resources/demo_features.json: well-formed, rebuilt from the shipped evaluation results (and the README's table
with it), and two concepts re-checked on a smaller sample (integration)."""

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


@pytest.mark.integration
def test_two_demo_concepts_still_steer(bundled_lm):
    """The two concepts with the largest keyword gain on the report split, steered as their sets at the chosen
    strength: at least 2 of 3 seeds on concept on a report prompt, more than default."""
    from desktop_sae.core.engine.sampling import SamplingConfig
    from desktop_sae.core.engine.session import Session
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.steer_eval.data import load_concept, load_splits
    from desktop_sae.core.steer_eval.evaluate import feature_steering
    from desktop_sae.core.steer_eval.scoring import keyword_hits, keyword_pattern
    from desktop_sae.core.steering.specs import NO_STEERING, SteeringConfig
    from desktop_sae.core.support.paths import default_sae_dir

    gain = lambda c: c["measured"]["feature"]["keyword_share"] - c["measured"]["default"]["keyword_share"]  # noqa
    best = sorted(_doc()["concepts"], key=gain, reverse=True)[:2]
    session = Session(bundled_lm, load_sae(default_sae_dir()))
    prompt = load_splits().report[0]
    for c in best:
        concept = load_concept(c["concept"])
        st: SteeringConfig = feature_steering(concept, c["strength"], c["method"])
        pat = keyword_pattern(concept.keywords)
        steered = default = 0
        for seed in range(3):
            s = SamplingConfig(seed=seed, max_new_tokens=32)
            steered += bool(keyword_hits(session.generate(prompt, s, st).text, pat))
            default += bool(keyword_hits(session.generate(prompt, s, NO_STEERING).text, pat))
        assert steered >= 2 and steered > default, c["concept"]
