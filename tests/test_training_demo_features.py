"""resources/demo_features.json: well-formed, and two entries re-checked on a smaller sample (integration)."""

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo_features.json"


def _doc():
    assert DEMO.exists(), "resources/demo_features.json must ship with the default SAE"
    return json.loads(DEMO.read_text())


def test_demo_features_file_is_well_formed():
    doc = _doc()
    concepts = doc["concepts"]
    assert len(concepts) >= 8
    names = {c["concept"] for c in concepts}
    assert {"golden_gate", "code", "bugs", "secrets", "scam"} <= names
    for c in concepts:
        assert isinstance(c["feature"], int) and c["label"]
        assert c["method"] in ("add", "clamp", "orth") and c["strength"] > 0
        assert c["n_answers"] >= 30
        for k in ("steered_on_concept", "default_on_concept", "steered_fluent", "steered_feature_fires",
                  "default_feature_fires"):
            assert 0.0 <= c[k] <= 1.0
        # perplexity of the steered answers under the unsteered model, relative to the default answers
        assert c["steered_nll"] > 0 and c["default_nll"] > 0
        assert c["steered_perplexity_ratio"] == pytest.approx(math.exp(c["steered_nll"] - c["default_nll"]), rel=1e-6)


@pytest.mark.integration
def test_two_demo_features_still_steer(bundled_lm):
    from desktop_sae.core.config import NO_STEERING, SamplingConfig, SteeringConfig, SteerSpec
    from desktop_sae.core.paths import default_sae_dir
    from desktop_sae.core.sae_io import load_sae
    from desktop_sae.core.session import Session

    sys.path.insert(0, str(ROOT / "packaging" / "corpus"))
    from measure_demo_features import PROMPTS, on_concept

    working = sorted((c for c in _doc()["concepts"] if c["steering_works"]),
                     key=lambda c: c["default_on_concept"] - c["steered_on_concept"])[:2]
    assert len(working) == 2
    session = Session(bundled_lm, load_sae(default_sae_dir()))
    for c in working:
        st = SteeringConfig(features=(SteerSpec(c["feature"], c["strength"], unit=c["unit"], method=c["method"]),))
        steered = default = 0
        for seed in range(3):
            s = SamplingConfig(seed=seed, max_new_tokens=32)
            steered += on_concept(session.generate(PROMPTS[0], s, st).text, c["keywords"])
            default += on_concept(session.generate(PROMPTS[0], s, NO_STEERING).text, c["keywords"])
        assert steered >= 2 and steered > default, c["concept"]
