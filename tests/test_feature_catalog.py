"""The feature catalog (no Qt needed): labels in layers (user > curated demo > automatic), search, conversation
activity, and the user-label file it shares with the feature dictionary."""

import json

import numpy as np

from desktop_sae.core.engine.generation import TokenEvent
from desktop_sae.core.features.catalog import FeatureCatalog
from desktop_sae.core.features.dictionary import FeatureDictionary
from desktop_sae.core.features.user_labels import USER_LABELS, fallback_path, read_labels, write_labels
from desktop_sae.core.presets.demo_concepts import demo_feature_labels
from desktop_sae.core.presets.file_format import SAEIdentity
from desktop_sae.core.support.paths import default_sae_dir, resources_dir


def _dictionary(labels):
    """A dictionary holding automatic labels only (no examples or logits)."""
    return FeatureDictionary({}, {"labels": labels, "vocab": {}})


def test_curated_labels_show_and_are_searchable_until_the_user_relabels(tmp_path):
    auto = ["IR / birds", "the / a", "def / import", "(dead)"]
    cat = FeatureCatalog(4, np.ones(4), np.full(4, 0.01), np.ones(4), _dictionary(auto), str(tmp_path),
                         curated_labels={0: "demo: music", 9: "out of range"})
    assert cat.label(0) == "demo: music" and cat.label(2) == "def / import" and 9 not in cat.curated_labels
    assert cat.label(3) == ""  # dead features have no automatic label
    assert list(cat.search("music")) == [0]
    assert list(cat.search("birds")) == [0]  # the automatic label stays searchable
    cat.set_label(0, "my tune")
    assert cat.label(0) == "my tune" and list(cat.search("music")) == [0] and list(cat.search("tune")) == [0]
    assert json.loads((tmp_path / USER_LABELS).read_text()) == {"0": "my tune"}
    cat.set_label(0, "demo: music")  # typing the shown curated label back is not a user label
    assert cat.user_labels == {} and cat.label(0) == "demo: music"


def test_search_by_id_and_words():
    cat = FeatureCatalog(30, dictionary=_dictionary(["bridge gate"] * 12 + ["golden bridge"] + [""] * 17))
    assert list(cat.search("#12")) == [12]
    assert list(cat.search("12"))[:1] == [12]
    assert list(cat.search("golden bridge")) == [12]
    assert list(cat.search("bridge")) == list(range(13))
    assert len(cat.search("")) == 30 and not cat.has_stats()


def test_user_labels_are_read_back_by_a_new_catalog(tmp_path):
    cat = FeatureCatalog(8, sae_path=str(tmp_path))
    assert cat.set_label(5, "  pirates  ") == tmp_path / USER_LABELS
    again = FeatureCatalog(8, sae_path=str(tmp_path / "sae_weights.safetensors"))  # a file inside the folder
    assert again.label(5) == "pirates" and again.user_labels == {5: "pirates"}


def test_labels_file_skips_bad_entries_and_falls_back(tmp_path):
    p = tmp_path / "l.json"
    p.write_text(json.dumps({"1": "one", "x": "bad id", "9": "out of range", "2": 7, "3": "y" * 500}))
    assert read_labels([tmp_path / "missing.json", p], 4) == {1: "one", 3: "y" * 200}
    blocked = tmp_path / "not_a_folder"
    blocked.write_text("")
    fb = tmp_path / "fallback.json"
    assert write_labels(blocked / USER_LABELS, {2: "two"}, fb) == fb and read_labels([fb], 4) == {2: "two"}
    ident = SAEIdentity(name="my-sae", fingerprint="abc")
    assert fallback_path(ident, 4).name == "my-sae-abc.json"


def test_conversation_activity_skips_specials_and_dense_features():
    cat = FeatureCatalog(6, density=np.array([0.01, 0.5, 0.01, 0.01, 0.01, 0.01]))

    def ev(ids, vals, special=False):
        return TokenEvent(0, 1, "t", "t", False, special, np.array(ids), np.array(vals, np.float32), None, 1.0)

    cat.observe(ev([2, 1, 4], [1.0, 9.0, 3.0]))
    cat.observe(ev([2, 3], [2.5, 0.5]))
    cat.observe(ev([5], [100.0], special=True))
    assert list(cat.active_ids("max")) == [4, 2, 3]  # 1 is dense, 5 fired on a special token only
    assert list(cat.active_ids("sum")) == [2, 4, 3]
    cat.reset_conversation()
    assert len(cat.active_ids()) == 0


def test_entry_without_dictionary_or_out_of_range_is_none():
    assert FeatureCatalog(4).entry(1) is None
    assert FeatureCatalog(4, dictionary=_dictionary(["a"] * 4)).entry(7) is None


def test_demo_labels_apply_to_the_bundled_sae_only(tmp_path):
    doc = json.loads((resources_dir() / "demo_features.json").read_text())
    labels = demo_feature_labels(default_sae_dir())
    want: dict[int, list[str]] = {}
    for c in doc["concepts"]:  # every member of a concept's set, named by each concept it steers toward
        for f in c.get("features") or [c["feature"]]:
            want.setdefault(f, []).append(c["label"])
    assert labels == {f: "demo: " + " · ".join(n) for f, n in want.items()}
    assert labels[doc["concepts"][0]["feature"]].startswith(f"demo: {doc['concepts'][0]['label']}")
    assert demo_feature_labels(tmp_path) == {} and demo_feature_labels(None) == {}
