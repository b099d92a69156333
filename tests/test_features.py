"""Feature views on the tiny model: direct logit effects, the features a text uses, the dictionary beside an SAE."""

import numpy as np
import pytest

from desktop_sae.core.engine.session import Session
from desktop_sae.core.features.dictionary import FeatureDictionary
from desktop_sae.core.features.readout import feature_logits, features_on_text, load_dictionary
from desktop_sae.core.sae.formats import load_sae, save_sae
from desktop_sae.core.support.errors import SAEMismatchError
from desktop_sae.core.training.activation_store import collect
from desktop_sae.core.training.dictionary_builder import ARRAYS, build_dictionary
from tiny import random_sae, tiny_lm

HOOK = "blocks.1.hook_resid_post"
TEXT = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def sae_dir(tmp_path_factory):
    """A tiny SAE folder with a feature dictionary beside it."""
    root = tmp_path_factory.mktemp("features")
    lm = tiny_lm()
    ctx = np.random.default_rng(0).integers(3, len(lm.tokenizer), size=(32, 16)).astype(np.int32)
    ctx[:, 0] = 1
    store = collect(lm.model, ctx, HOOK, root / "store", bos_id=1, batch_size=8)
    sae = random_sae(d_in=64, d_sae=96, k=6, hook=HOOK)
    save_sae(sae, root / "sae")
    build_dictionary(sae, store, lm.tokenizer, lm.model.get_output_embeddings().weight, root / "sae")
    return root / "sae"


def test_feature_logits_are_the_unembedded_decoder_row():
    s = Session(tiny_lm(), random_sae(d_in=64, d_sae=96, k=6, hook=HOOK))
    f = 17
    want = (s.sae.W_dec[f].detach() @ s.lm.model.get_output_embeddings().weight.T).float()
    res = feature_logits(s, f, n=5)
    assert res.feature == f and len(res.top) == len(res.bottom) == 5
    tops, bots = [v for _, v in res.top], [v for _, v in res.bottom]
    assert tops == sorted(tops, reverse=True) and bots == sorted(bots)
    assert np.isclose(tops[0], float(want.max()), rtol=1e-5) and np.isclose(bots[0], float(want.min()), rtol=1e-5)
    assert res.top[0][0] == s.lm.tokenizer.decode([int(want.argmax())])
    assert res.bottom[0][0] == s.lm.tokenizer.decode([int(want.argmin())])
    with pytest.raises(ValueError, match="feature 96 does not exist"):
        feature_logits(s, 96)
    with pytest.raises(SAEMismatchError):
        feature_logits(Session(tiny_lm()), 0)


def test_features_on_text_match_the_sae_on_ordinary_tokens(sae_dir):
    s = Session(tiny_lm(), load_sae(sae_dir))
    res = features_on_text(s, TEXT, top=5)
    toks, ids, acts = s.encode_text(TEXT)
    keep = [i not in s.special_ids for i in ids]
    assert not all(keep)  # the text starts with BOS, which is left out
    a = acts[np.array(keep)]
    assert res.tokens == tuple(t for t, k in zip(toks, keep) if k)
    want = [int(f) for f in np.argsort(-a.max(0), kind="stable") if a[:, f].max() > 0][:5]
    assert [h.feature for h in res.features] == want
    dic = FeatureDictionary.load(sae_dir)
    for h in res.features:
        col = a[:, h.feature]
        assert np.isclose(h.max, col.max()) and np.isclose(h.mean, col.mean())
        assert h.tokens_active == int((col > 0).sum()) and h.at_token == res.tokens[int(col.argmax())]
        assert h.label == dic.labels[h.feature] and h.demo is None  # demo labels belong to the bundled SAE


def test_features_on_text_without_dictionary_or_ordinary_tokens():
    s = Session(tiny_lm(), random_sae(d_in=64, d_sae=96, k=6, hook=HOOK))
    res = features_on_text(s, TEXT, top=3)
    assert len(res.features) == 3 and all(h.label == "" for h in res.features)
    with pytest.raises(ValueError, match="no ordinary tokens"):
        features_on_text(s, "<|im_start|>")
    with pytest.raises(SAEMismatchError):
        features_on_text(Session(tiny_lm()), TEXT)


def test_load_dictionary(sae_dir, tmp_path):
    assert load_dictionary(None) is None and load_dictionary(tmp_path) is None
    d = load_dictionary(sae_dir / "cfg.json")  # a file inside the SAE folder names the folder
    assert isinstance(d, FeatureDictionary) and len(d) == 96
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in (ARRAYS, "dictionary.json"):
        (broken / name).write_bytes(b"not a dictionary")
    with pytest.warns(UserWarning, match="could not read the feature dictionary"):
        assert load_dictionary(broken) is None

