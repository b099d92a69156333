"""The feature panel's catalog (no Qt needed): labels in layers (user > curated demo > automatic) and search."""

import json

import numpy as np

from desktop_sae.core.paths import default_sae_dir, resources_dir
from desktop_sae.core.presets import demo_feature_labels
from desktop_sae.gui.feature_data import USER_LABELS, FeatureCatalog


class _Dict:
    def __init__(self, labels):
        self.labels = labels


def test_curated_labels_show_and_are_searchable_until_the_user_relabels(tmp_path):
    auto = ["IR / birds", "the / a", "def / import", ""]
    cat = FeatureCatalog(4, np.ones(4), np.full(4, 0.01), np.ones(4), _Dict(auto), str(tmp_path),
                         curated_labels={0: "demo: music", 9: "out of range"})
    assert cat.label(0) == "demo: music" and cat.label(2) == "def / import" and 9 not in cat.curated_labels
    assert list(cat.search("music")) == [0]
    assert list(cat.search("birds")) == [0]  # the automatic label stays searchable
    cat.set_label(0, "my tune")
    assert cat.label(0) == "my tune" and list(cat.search("music")) == [0] and list(cat.search("tune")) == [0]
    assert json.loads((tmp_path / USER_LABELS).read_text()) == {"0": "my tune"}
    cat.set_label(0, "demo: music")  # typing the shown curated label back is not a user label
    assert cat.user_labels == {} and cat.label(0) == "demo: music"


def test_demo_labels_apply_to_the_bundled_sae_only(tmp_path):
    doc = json.loads((resources_dir() / "demo_features.json").read_text())
    labels = demo_feature_labels(default_sae_dir())
    assert labels == {c["feature"]: f"demo: {c['label']}" for c in doc["concepts"]}
    assert demo_feature_labels(tmp_path) == {} and demo_feature_labels(None) == {}
