"""TopK trainer: sparse gradients match autograd, planted features are recovered, checkpoints resume."""

import numpy as np
import torch
import torch.nn.functional as F

from desktop_sae.core.training.activation_store import ActivationStore
from desktop_sae.core.training.trainer import TopKTrainer, TrainConfig, train


def _dense_loss(tr: TopKTrainer, x: torch.Tensor, dead: torch.Tensor, ka: int):
    """Reference loss with autograd through dense ops (same selection as the trainer)."""
    W_encT, b_enc, W_dec, b_dec = (p.clone().requires_grad_(True) for p in tr.params())
    x = x * tr.scale
    x_in = x - b_dec
    pre = x_in @ W_encT.T + b_enc
    _, idx = pre.detach().topk(tr.cfg.k, dim=1)
    a = torch.zeros_like(pre).scatter(1, idx, pre.gather(1, idx).clamp_min(0))
    e = a @ W_dec + b_dec - x
    denom = (x - x.mean(0)).pow(2).sum()
    loss = e.pow(2).sum() / denom
    if dead is None:  # every latent that did not fire on this batch counts as dead (dead_tokens = 0)
        fired = torch.zeros(pre.shape[1], dtype=torch.bool)
        fired[idx[pre.gather(1, idx) > 0]] = True
        dead = torch.nonzero(~fired).squeeze(1)
        ka = min(ka, len(dead))
    if len(dead):
        masked = torch.full_like(pre, -1e30)
        masked[:, dead] = pre.detach()[:, dead]
        _, ia = masked.topk(ka, dim=1)
        aa = torch.zeros_like(pre).scatter(1, ia, pre.gather(1, ia).clamp_min(0))
        r = -e.detach()
        aux = (aa @ W_dec - r).pow(2).sum() / (r - r.mean(0)).pow(2).sum()
        loss = loss + tr.cfg.aux_alpha * min(len(dead) / ka, 1.0) * aux
    loss.backward()
    gW = W_dec.grad - (W_dec.grad * W_dec).sum(1, keepdim=True) * W_dec
    return [W_encT.grad, b_enc.grad, gW, b_dec.grad]


def test_sparse_gradients_match_autograd():
    torch.manual_seed(0)
    d, S = 16, 64
    for dead_tokens, ka in ((10**9, 0), (0, 8)):  # without and with AuxK (every latent dead)
        tr = TopKTrainer(d, TrainConfig(d_sae=S, k=4, aux_k=8, dead_tokens=dead_tokens, lr=1e-3))
        x = torch.randn(32, d) * 3 + 1
        tr.init_from_sample(x)
        tr.b_enc.normal_(0, 0.1)
        ref = _dense_loss(tr, x, None if dead_tokens == 0 else torch.zeros(0, dtype=torch.long), ka)
        tr.opt.step = lambda: None  # capture gradients without updating
        tr.step(x)
        for name, p, r in zip(tr.NAMES, tr.params(), ref):
            assert torch.allclose(p.grad, r, atol=1e-5, rtol=1e-4), name


def _planted(n, d=32, n_feat=64, k_true=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = F.normalize(torch.randn(n_feat, d, generator=g), dim=1)
    idx = torch.stack([torch.randperm(n_feat, generator=g)[:k_true] for _ in range(n)])
    mags = torch.rand(n, k_true, generator=g) * 4 + 1
    x = (mags[..., None] * feats[idx]).sum(1) + 0.5
    return x, feats


def _store(tmp_path, x):
    st = ActivationStore.create(tmp_path / "store", x.shape[1], len(x), np.zeros((1, 2), np.int32), hook_name="h")
    st.acts[:] = x.numpy().astype(np.float16)
    st.commit(n_tokens=len(x), complete=True)
    return ActivationStore(tmp_path / "store")


def test_recovers_planted_features(tmp_path):
    x, feats = _planted(30_000)
    store = _store(tmp_path, x)
    cfg = TrainConfig(d_sae=128, k=4, batch_size=512, total_tokens=240_000, lr=4e-3, dead_tokens=20_000)
    tr = train(store, cfg, tmp_path / "run")
    cos = F.normalize(tr.W_dec, dim=1) @ feats.T  # [d_sae, n_feat]
    best = cos.max(0).values
    assert (best > 0.9).float().mean() > 0.9, best
    sae = tr.to_sae()
    recon, acts = sae(x[:2000])
    fvu = (recon - x[:2000]).pow(2).sum() / (x[:2000] - x[:2000].mean(0)).pow(2).sum()
    assert fvu < 0.1
    assert float((acts > 0).sum(1).float().mean()) <= 4


def test_checkpoint_resume_matches_uninterrupted(tmp_path):
    x, _ = _planted(8192, seed=1)
    store = _store(tmp_path, x)
    cfg = TrainConfig(d_sae=64, k=4, batch_size=256, total_tokens=256 * 40, checkpoint_every=5)
    full = train(store, cfg, tmp_path / "a")
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] == 18

    part = train(store, cfg, tmp_path / "b", cancel=cancel)
    assert part.step_n == 17
    resumed = train(store, cfg, tmp_path / "b")
    assert resumed.step_n == full.step_n == 40
    for p, q in zip(full.params(), resumed.params()):
        assert torch.allclose(p, q, atol=1e-5)


def test_bf16_selection_matches_fp32_step():
    torch.manual_seed(0)
    x = torch.randn(256, 32) * 2
    out = []
    for sel in ("float32", "bfloat16"):
        tr = TopKTrainer(32, TrainConfig(d_sae=128, k=8, lr=1e-3, select_dtype=sel))
        tr.init_from_sample(x)
        m = tr.step(x)
        out.append((m, [p.clone() for p in tr.params()]))
    (m32, p32), (m16, p16) = out
    assert abs(m32["fvu"] - m16["fvu"]) < 0.02
    for a, b in zip(p32, p16):
        assert torch.allclose(a, b, atol=5e-3)


def test_attention_sink_outliers_are_skipped():
    torch.manual_seed(0)
    x = torch.randn(1000, 16)
    x[:3] *= 500  # three attention-sink-like rows
    tr = TopKTrainer(16, TrainConfig(d_sae=32, k=4))
    tr.init_from_sample(x)
    assert 30 < tr.outlier_norm < 50  # 10 x median norm (~3.9)
    assert abs(tr.scale * x[3:].norm(dim=1).mean() - 4.0) < 0.1  # scale from ordinary rows only
    m = tr.step(x[:64])
    assert m["fvu"] < 5  # the huge rows did not enter the loss
    assert tr.to_sae().cfg.metadata["outlier_norm_threshold"] == tr.outlier_norm
