"""The feature catalog (no Qt needed): one naming rule (user > explanation > automatic) with its source, demo-set
tags, search, conversation activity, and the user-label file it shares with the feature dictionary."""

import json

import numpy as np

from desktop_sae.core.engine.generation import TokenEvent
from desktop_sae.core.explanations.protocol import Method
from desktop_sae.core.explanations.store import Explanation
from desktop_sae.core.features.catalog import FeatureCatalog
from desktop_sae.core.features.dictionary import FeatureDictionary
from desktop_sae.core.features.naming import LabelSource, elide
from desktop_sae.core.features.user_labels import USER_LABELS, fallback_path, read_labels, write_labels
from desktop_sae.core.presets.demo_concepts import demo_feature_sets
from desktop_sae.core.presets.file_format import SAEIdentity
from desktop_sae.core.support.paths import default_sae_dir, resources_dir


def _dictionary(labels):
    """A dictionary holding automatic labels only (no examples or logits)."""
    return FeatureDictionary({}, {"labels": labels, "vocab": {}})


def test_a_feature_is_named_by_the_user_else_its_explanation_else_its_tokens(tmp_path):
    auto = ["IR / birds", "the / a", "def / import", "(dead)"]
    ex = {0: Explanation("melodies and musical instruments", Method.LLM, "qwen2.5-7b"),
          9: Explanation("out of range", Method.HUMAN, "me")}
    cat = FeatureCatalog(4, np.ones(4), np.full(4, 0.01), np.ones(4), _dictionary(auto), str(tmp_path),
                         explanations=ex, demo_sets={0: ("music",), 1: ("Golden Gate Bridge", "travel")})
    assert cat.label(0) == "melodies and musical instruments" and cat.label_source(0) is LabelSource.EXPLANATION
    assert cat.label(2) == "def / import" and cat.label_source(2) is LabelSource.TOKENS and 9 not in cat.explanations
    assert cat.label(3) == ""  # dead features have no automatic label
    assert cat.label(1) == "the / a" and cat.demo_tag(1) == "demo set: Golden Gate Bridge · travel"  # a tag, not a name
    assert cat.demo_tag(2) == ""
    assert list(cat.search("musical instruments")) == [0]
    assert list(cat.search("birds")) == [0]  # the automatic label stays searchable
    assert list(cat.search("golden gate")) == [1] and list(cat.search("demo set")) == [0, 1]
    cat.set_label(0, "my tune")
    assert cat.label(0) == "my tune" and cat.label_source(0) is LabelSource.USER
    assert list(cat.search("melodies")) == [0] and list(cat.search("tune")) == [0]
    assert json.loads((tmp_path / USER_LABELS).read_text()) == {"0": "my tune"}
    cat.set_label(0, "melodies and musical instruments")  # typing the explanation back is not a user label
    assert cat.user_labels == {} and cat.label_source(0) is LabelSource.EXPLANATION
    cat.set_label(0, "my tune")
    cat.set_label(0, "")  # clearing brings the explanation back
    assert cat.label(0) == "melodies and musical instruments" and list(cat.search("tune")) == []


def test_elide_cuts_at_a_word_with_an_ellipsis():
    text = "mentions of money, banks, prices and the finance pages of newspapers in several languages"
    assert elide(text, 200) == text
    short = elide(text, 30)
    assert short.endswith("…") and len(short) <= 30 and text.startswith(short[:-1])


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


def test_demo_sets_apply_to_the_bundled_sae_only(tmp_path):
    doc = json.loads((resources_dir() / "demo_features.json").read_text())
    sets = demo_feature_sets(default_sae_dir())
    want: dict[int, list[str]] = {}
    for c in doc["concepts"]:  # every member of a concept's set, named by each concept it steers toward
        for f in c.get("features") or [c["feature"]]:
            want.setdefault(f, []).append(c["label"])
    assert sets == {f: tuple(n) for f, n in want.items()}
    assert sets[doc["concepts"][0]["feature"]][0] == doc["concepts"][0]["label"]
    assert demo_feature_sets(tmp_path) == {} and demo_feature_sets(None) == {}


def test_search_over_8192_explained_features_finds_exactly_the_matching_ones():
    """Correctness only; the time is measured by tests/bench/bench_feature_search.py."""
    from explained import QUERIES, synthetic_catalog

    cat = synthetic_catalog(8192)
    for q in QUERIES:
        hits = [int(f) for f in cat.search(q)]
        assert len(hits) == len(set(hits))
        if q.lstrip("#").isdigit():  # an id first; '#id' the id alone
            assert hits[0] == int(q.lstrip("#")) and (len(hits) == 1 or not q.startswith("#"))
            continue
        words = q.split()
        shown = [" ".join((cat.label(f), cat.explanation_text(f), cat.demo_tag(f), cat.auto_labels[f])).lower()
                 for f in range(cat.d_sae)]
        assert hits == [f for f, t in enumerate(shown) if all(w in t for w in words)], q
    assert len(cat.search("golden gate")) == 6 and len(cat.search("zzz")) == 0
    some = next(f for f in range(100) if cat.explanation_text(f))
    assert some in cat.search(cat.explanation_text(some))  # every explained feature is found by its explanation
