"""Activation collection: stored rows equal the hook's activations (BOS excluded), resume after cancel."""

import numpy as np
import torch

from desktop_sae.core.engine.hooks import capture
from desktop_sae.core.training.activation_store import ActivationStore, collect
from tiny import tiny_lm

HOOK = "blocks.1.hook_resid_post"


def _contexts(n=20, T=12, vocab=300, bos=1, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.integers(3, vocab, size=(n, T)).astype(np.int32)
    c[:, 0] = bos
    c[3, 5] = bos  # a document separator inside a context
    return c


def test_round_trip_matches_capture(tmp_path):
    lm = tiny_lm()
    ctx = _contexts()
    store = collect(lm.model, ctx, HOOK, tmp_path / "s", bos_id=1, batch_size=6)
    assert store.meta["complete"] and store.n_tokens == int((ctx != 1).sum())
    x = capture(lm.model, HOOK, input_ids=torch.from_numpy(ctx.astype(np.int64)))
    back = ActivationStore(tmp_path / "s")
    for r in (0, 7, store.n_tokens - 1):
        c, p = back.locs[r]
        assert ctx[c, p] != 1
        assert np.allclose(back.acts[r].astype(np.float32), x[c, p].numpy(), atol=2e-2, rtol=1e-3)
    # one epoch of batches visits every row once
    rows = torch.cat(list(back.batches(16, epoch=0)))
    assert len(rows) == back.n_batches(16) * 16


def test_resume_after_cancel_equals_uninterrupted(tmp_path):
    lm = tiny_lm()
    ctx = _contexts(30)
    full = collect(lm.model, ctx, HOOK, tmp_path / "full", bos_id=1, batch_size=4)
    n = {"calls": 0}

    def cancel():
        n["calls"] += 1
        return n["calls"] > 3

    part = collect(lm.model, ctx, HOOK, tmp_path / "part", bos_id=1, batch_size=4, cancel=cancel)
    assert not part.meta["complete"] and 0 < part.n_tokens < full.n_tokens
    done = collect(lm.model, ctx, HOOK, tmp_path / "part", bos_id=1, batch_size=4)
    assert done.meta["complete"] and done.n_tokens == full.n_tokens
    assert np.array_equal(np.asarray(done.acts), np.asarray(full.acts))
    assert np.array_equal(np.asarray(done.locs), np.asarray(full.locs))


def test_max_tokens_caps_the_store(tmp_path):
    lm = tiny_lm()
    store = collect(lm.model, _contexts(), HOOK, tmp_path / "s", bos_id=1, batch_size=4, max_tokens=50)
    assert store.n_tokens == 50 and store.meta["complete"]
