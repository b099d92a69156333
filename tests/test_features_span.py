"""Features over a span of tokens read in context: the same numbers as slicing an encode of the whole sequence."""

import numpy as np
import pytest

from desktop_sae.core.engine.session import Session
from desktop_sae.core.features.readout import features_on_span
from tiny import random_sae, tiny_lm

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def session():
    return Session(tiny_lm(), random_sae(d_in=64, d_sae=96, k=6, hook=HOOK))


def test_a_span_equals_slicing_the_full_sequence_encode(session):
    s = session
    ids = s.prompt_ids([{"role": "user", "content": "tell me about the golden bridge"}])
    ids += s.prompt_ids("the quick brown fox jumps over the lazy dog", chat=False)[1:]
    full = s.sae.encode(s.activations(ids)).float().numpy()
    start, end = len(ids) - 6, len(ids) - 2
    res = features_on_span(s, ids, start, end, top=10)
    a = full[start:end]
    want = [int(f) for f in np.argsort(-a.max(0), kind="stable") if a[:, f].max() > 0][:10]
    assert [h.feature for h in res.features] == want
    for h in res.features:
        assert h.max == pytest.approx(float(a[:, h.feature].max()), rel=1e-4, abs=1e-5)
        assert h.mean == pytest.approx(float(a[:, h.feature].mean()), rel=1e-4, abs=1e-5)
        assert h.tokens_active == int((a[:, h.feature] > 0).sum())
    tok = s.lm.tokenizer
    assert res.tokens == tuple(tok.decode([i]) for i in ids[start:end])
    # in context differs from the same tokens read on their own (the prefix matters)
    alone = s.sae.encode(s.activations(ids[start:end])).float().numpy()
    assert not np.allclose(alone, a, atol=1e-3)


def test_special_tokens_in_the_span_are_left_out_and_bad_spans_refused(session):
    s = session
    ids = s.prompt_ids([{"role": "user", "content": "hello there"}])  # ends with <|im_start|>assistant\n
    special = [i for i, t in enumerate(ids) if t in s.special_ids]
    j = special[-1]  # the last <|im_start|>
    res = features_on_span(s, ids, j, len(ids))
    assert len(res.tokens) == len(ids) - j - 1
    with pytest.raises(ValueError, match="only special"):
        features_on_span(s, ids, j, j + 1)
    with pytest.raises(ValueError, match="not inside"):
        features_on_span(s, ids, 3, 3)
    with pytest.raises(ValueError, match="not inside"):
        features_on_span(s, ids, 0, len(ids) + 1)
