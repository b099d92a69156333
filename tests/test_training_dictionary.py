"""Feature dictionary build/load/search and evaluation metrics against hand computation."""

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from desktop_sae.core.features.catalog import FeatureCatalog
from desktop_sae.core.features.dictionary import FeatureDictionary
from desktop_sae.core.support.errors import Cancelled
from desktop_sae.core.training.activation_store import collect
from desktop_sae.core.training.dictionary_builder import build_dictionary
from desktop_sae.core.training.sae_evaluation import ReconAccumulator, evaluate
from tiny import random_sae, tiny_lm

HOOK = "blocks.1.hook_resid_post"


def _setup(tmp_path, n=40, T=16):
    lm = tiny_lm()
    rng = np.random.default_rng(0)
    ctx = rng.integers(3, len(lm.tokenizer), size=(n, T)).astype(np.int32)
    ctx[:, 0] = 1
    store = collect(lm.model, ctx, HOOK, tmp_path / "s", bos_id=1, batch_size=8)
    sae = random_sae(d_in=64, d_sae=96, k=6, hook=HOOK)
    return lm, ctx, store, sae


def test_dictionary_build_load_entry_search(tmp_path):
    lm, ctx, store, sae = _setup(tmp_path)
    d = build_dictionary(sae, store, lm.tokenizer, lm.model.get_output_embeddings().weight, tmp_path / "dict")
    t0 = time.time()
    d = FeatureDictionary.load(tmp_path / "dict")
    assert time.time() - t0 < 0.5
    x = torch.from_numpy(np.asarray(store.acts).astype(np.float32))
    acts = sae.encode(x).detach()
    f = int(acts.max(0).values.argmax())
    e = d.entry(f)
    assert np.isclose(e["max_activation"], float(acts[:, f].max()), rtol=1e-4)
    assert np.isclose(e["density"], float((acts[:, f] > 0).float().mean()), rtol=1e-4)
    nz = acts[:, f][acts[:, f] > 0]
    assert np.isclose(e["mean_activation"], float(nz.mean()), rtol=1e-4)
    assert sum(e["histogram"]["counts"]) == len(nz)
    top = e["top_examples"]
    assert 1 <= len(top) <= 20 and np.isclose(top[0]["activation"], e["max_activation"], rtol=1e-4)
    assert [t["activation"] for t in top] == sorted((t["activation"] for t in top), reverse=True)
    # per-token values in the top example equal the SAE's activation on those stored tokens
    assert np.isclose(max(top[0]["values"]), e["max_activation"], rtol=2e-3)
    # logits: W_dec[f] @ W_U
    lg = sae.W_dec[f].detach() @ lm.model.get_output_embeddings().weight.T
    assert np.isclose(e["top_logits"][0][1], float(lg.max()), rtol=1e-4)
    assert np.isclose(e["bottom_logits"][0][1], float(lg.min()), rtol=1e-4)
    assert e["top_logits"][0][0] == lm.tokenizer.decode([int(lg.argmax())])
    # labels: the automatic ones, searchable in the catalog by id, label text and a top-activating token
    assert len(d) == 96 and d.labels == d.meta["labels"] and e["label"] == d.labels[f] != "(dead)"
    cat = FeatureCatalog(96, dictionary=d, sae_path=str(tmp_path / "dict"))
    assert list(cat.search(f"#{f}")) == [f]
    assert f in cat.search(e["label"][:6])
    peak = int(d.a["ex_values"][f, 0].astype(np.float32).argmax())
    tokstr = d.tok(d.a["ex_tokens"][f, 0, peak]).strip()
    if tokstr:
        assert f in cat.search(tokstr)
    # a label the user edits in the catalog is the dictionary's label on the next load; the automatic one stays
    cat.set_label(f, "my label")
    again = FeatureDictionary.load(tmp_path / "dict")
    assert again.labels[f] == "my label" and again.entry(f)["label"] == "my label"
    assert again.meta["labels"][f] == d.meta["labels"][f]


def test_recon_accumulator_matches_hand_computation():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 8, generator=g)
    x_hat = x + 0.3 * torch.randn(50, 8, generator=g)
    acts = torch.relu(torch.randn(50, 12, generator=g))
    acts[:, 3] = 0
    acc = ReconAccumulator(12)
    acc.add(x[:20], x_hat[:20], acts[:20])
    acc.add(x[20:], x_hat[20:], acts[20:])
    r = acc.result()
    fvu = float(((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
    assert np.isclose(r["explained_variance"], 1 - fvu, rtol=1e-6)
    assert np.isclose(r["l0"], float((acts > 0).sum()) / 50)
    assert np.isclose(r["dead_fraction"], 1 / 12)


class _PerfectSAE(torch.nn.Module):
    """Reconstructs its input exactly (CE recovered must be 1, delta loss 0)."""

    def __init__(self, d):
        super().__init__()
        self.cfg = type("C", (), {"d_sae": d})()
        self.dtype = torch.float32

    def forward(self, x):
        return x, torch.relu(x)


def test_ce_metrics(tmp_path):
    lm, ctx, _, sae = _setup(tmp_path, n=8)
    res = evaluate(lm.model, _PerfectSAE(64), ctx, HOOK, bos_id=1, batch_size=4)
    ids = torch.from_numpy(ctx.astype(np.int64))
    logits = lm.model(input_ids=ids).logits
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    assert np.isclose(res["ce_clean"], float(ce), rtol=1e-5)
    assert np.isclose(res["ce_sae"], res["ce_clean"], rtol=1e-6) and np.isclose(res["ce_loss_recovered"], 1.0)
    assert np.isclose(res["explained_variance"], 1.0)
    r2 = evaluate(lm.model, sae, ctx, HOOK, bos_id=1, batch_size=4)
    assert r2["ce_zero_ablation"] != r2["ce_clean"]
    want = (r2["ce_zero_ablation"] - r2["ce_sae"]) / (r2["ce_zero_ablation"] - r2["ce_clean"])
    assert np.isclose(r2["ce_loss_recovered"], want) and r2["l0"] <= 6


def test_dictionary_and_evaluation_stop_when_cancelled(tmp_path):
    lm, ctx, store, sae = _setup(tmp_path, n=16)
    reports = []

    def cancel_after_first_report():
        return bool(reports)

    with pytest.raises(Cancelled):
        build_dictionary(sae, store, lm.tokenizer, lm.model.get_output_embeddings().weight, tmp_path / "dict",
                         batch=64, progress=lambda f, m: reports.append(f), cancel=cancel_after_first_report)
    assert len(reports) == 1 and not FeatureDictionary.exists(tmp_path / "dict")
    reports.clear()
    with pytest.raises(Cancelled):
        evaluate(lm.model, sae, ctx, HOOK, bos_id=1, batch_size=4, progress=lambda f, m: reports.append((f, m)),
                 cancel=cancel_after_first_report)
    assert reports == [(0.25, "4/16 contexts")]
