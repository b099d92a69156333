"""CUDA code paths: device choice, the generation engine and steering, activation collection, SAE training
(sparse kernels, checkpoints across devices), evaluation and the feature dictionary, each against the CPU.

Tiny random models in float32 on both devices unless said otherwise. Skipped without a CUDA device; run on a GPU
machine with ``python -m pytest -q tests/test_cuda.py`` (no PySide6, no bundled model needed).
"""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from desktop_sae.core.engine.device import default_dtype, pick_device
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import Session
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.training import trainer as trainer_mod
from desktop_sae.core.training.activation_store import collect
from desktop_sae.core.training.dictionary_builder import build_dictionary
from desktop_sae.core.training.sae_evaluation import evaluate
from desktop_sae.core.training.trainer import TopKTrainer, TrainConfig, train
from test_training_trainer import _planted, _store
from tiny import random_sae, tiny_lm

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on a GPU machine)")

HOOK = "blocks.1.hook_resid_post"
CUDA = torch.device("cuda")


def lm_on(device: str, family: str = "llama", dtype=torch.float32):
    """tiny_lm moved to ``device`` (a fresh model each call, same seed so same weights)."""
    lm = tiny_lm(family, dtype=dtype)
    lm.model.to(device)
    return dataclasses.replace(lm, device=torch.device(device))


def session_on(device: str, sae_hook: str = HOOK) -> Session:
    return Session(lm_on(device), random_sae(hook=sae_hook))  # attach_sae moves the SAE to the model's device


def contexts(n=24, T=16, vocab=300, seed=0):
    c = np.random.default_rng(seed).integers(3, vocab, size=(n, T)).astype(np.int32)
    c[:, 0] = 1
    c[3, 7] = 1  # a document separator inside a context
    return c


# --- device choice ------------------------------------------------------------------------------------------
def test_pick_device_and_default_dtype():
    dev = pick_device()
    assert dev.type == "cuda" and pick_device("auto").type == "cuda"
    assert pick_device("cuda:0") == torch.device("cuda:0")
    assert default_dtype(dev) == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    assert TopKTrainer(8, TrainConfig(d_sae=16, k=2, device="auto")).W_dec.device.type == "cuda"


# --- engine -------------------------------------------------------------------------------------------------
GREEDY = SamplingConfig(temperature=0, max_new_tokens=12, frequency_penalty=0.0)


def test_greedy_generation_and_readouts_match_cpu():
    gpu, cpu = session_on("cuda"), session_on("cpu")
    assert gpu.sae.device.type == "cuda" and cpu.sae.device.type == "cpu"
    a, b = gpu.generate("hello world", GREEDY), cpu.generate("hello world", GREEDY)
    assert a.answer_ids == b.answer_ids and len(a.answer_ids) >= 1
    assert len(a.events) == len(b.events)
    for ea, eb in zip(a.events[:6], b.events[:6]):
        assert ea.token_id == eb.token_id
        assert ea.top_ids[:3].tolist() == eb.top_ids[:3].tolist()
        np.testing.assert_allclose(ea.top_vals, eb.top_vals, rtol=1e-3, atol=1e-3)
        assert ea.norm == pytest.approx(eb.norm, rel=1e-4)
    # encode_text brings results back to the CPU as numpy
    _, ids, acts = gpu.encode_text("the quick brown fox")
    _, ids_c, acts_c = cpu.encode_text("the quick brown fox")
    assert ids == ids_c and isinstance(acts, np.ndarray)
    np.testing.assert_allclose(acts, acts_c, rtol=1e-3, atol=1e-3)


def test_default_dtype_session_runs_on_cuda():
    dtype = default_dtype(CUDA)
    s = Session(lm_on("cuda", dtype=dtype), random_sae(hook=HOOK))
    assert s.sae.dtype == dtype
    res = s.generate("hello world", GREEDY, SteeringConfig((SteerSpec(11, 4.0),)))
    assert len(res.answer_ids) >= 1
    assert all(np.isfinite(e.top_vals).all() and np.isfinite(e.norm) for e in res.events)


# --- steering -----------------------------------------------------------------------------------------------
def test_strength_zero_is_bit_identical_on_cuda_with_sampling():
    from test_steering import check_strength_zero_is_bit_identical

    check_strength_zero_is_bit_identical(session_on("cuda"))


@pytest.mark.parametrize("specs", [(SteerSpec(11, 40.0),), (SteerSpec(5, 30.0, method="clamp"),),
                                   (SteerSpec(11, 20.0), SteerSpec(5, 10.0, method="clamp"))])
def test_steered_greedy_tokens_match_cpu(specs):
    steering = SteeringConfig(specs)
    gpu, cpu = session_on("cuda"), session_on("cpu")
    a, b = gpu.generate("hello world", GREEDY, steering), cpu.generate("hello world", GREEDY, steering)
    assert a.answer_ids == b.answer_ids
    assert a.answer_ids != gpu.generate("hello world", GREEDY).answer_ids  # the steer did something
    for ea, eb in zip(a.events[:4], b.events[:4]):
        np.testing.assert_allclose(ea.top_vals, eb.top_vals, rtol=1e-3, atol=1e-3)



def test_a_batch_steered_row_by_row_gives_each_row_its_answer_on_cuda():
    """Per-row steering in one batch (core/engine/batch_generation.py) on CUDA: rows that end leave the batch (its
    KV cache rows dropped on the device), prompts of other lengths are padded, and each row's greedy tokens are the
    single answer's; the sweep's measures read together equal those read one by one."""
    from desktop_sae.core.engine.batch_generation import generate_batch
    from desktop_sae.core.steer_eval.reading import kl_along, kl_along_rows

    gpu = session_on("cuda")
    prompts = [gpu.prompt_ids(p) for p in ("hello world", "hello world", "tell me about the golden bridge")]
    steerings = [SteeringConfig((SteerSpec(11, 0.0),)), SteeringConfig((SteerSpec(11, 40.0),)),
                 SteeringConfig((SteerSpec(5, 30.0, method="clamp"),))]
    samplings = [GREEDY, dataclasses.replace(GREEDY, max_new_tokens=3), GREEDY]
    batch = generate_batch(gpu, prompts, samplings, steerings)
    for p, s, st, b in zip(prompts, samplings, steerings, batch):
        assert b.answer_ids == gpu.generate("", s, st, prompt_ids=p).answer_ids
    items = [(p, b.answer_ids, st) for p, b, st in zip(prompts, batch, steerings)]
    for (p, a, st), kl in zip(items, kl_along_rows(gpu, items)):
        np.testing.assert_allclose(kl, kl_along(gpu, p, a, st), rtol=1e-3, atol=1e-5)

# --- activation collection ----------------------------------------------------------------------------------
def test_collect_on_cuda_matches_cpu(tmp_path):
    ctx = contexts()
    gpu = collect(lm_on("cuda").model, ctx, HOOK, tmp_path / "g", bos_id=1, batch_size=5)
    cpu = collect(lm_on("cpu").model, ctx, HOOK, tmp_path / "c", bos_id=1, batch_size=5)
    assert gpu.meta["complete"] and gpu.n_tokens == cpu.n_tokens == int((ctx != 1).sum())
    assert np.array_equal(np.asarray(gpu.locs), np.asarray(cpu.locs))
    np.testing.assert_allclose(np.asarray(gpu.acts, np.float32), np.asarray(cpu.acts, np.float32),
                               rtol=2e-3, atol=2e-3)


def test_collect_with_padding_on_cuda(tmp_path):
    ctx = contexts(8)
    ctx[2, 10:] = 0  # padded tail
    gpu = collect(lm_on("cuda").model, ctx, HOOK, tmp_path / "g", bos_id=1, pad_id=0, batch_size=3)
    cpu = collect(lm_on("cpu").model, ctx, HOOK, tmp_path / "c", bos_id=1, pad_id=0, batch_size=3)
    assert gpu.n_tokens == cpu.n_tokens == int(((ctx != 1) & (ctx != 0)).sum())
    np.testing.assert_allclose(np.asarray(gpu.acts, np.float32), np.asarray(cpu.acts, np.float32),
                               rtol=2e-3, atol=2e-3)


# --- training -----------------------------------------------------------------------------------------------
def test_sparse_kernels_on_cuda_match_dense():
    g = torch.Generator().manual_seed(0)
    B, k, S, d = 300, 8, 500, 48
    idx = torch.stack([torch.randperm(S, generator=g)[:k] for _ in range(B)]).to(CUDA)
    y, w = torch.randn(B, d, generator=g).to(CUDA), torch.randn(S, d, generator=g).to(CUDA)
    ref = (y[:, None, :] * w[idx]).sum(-1)
    torch.testing.assert_close(trainer_mod._gather_dot(idx, y, w), ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(trainer_mod._gather_dot_dense(idx, y, w), ref, rtol=1e-4, atol=1e-4)
    rows = torch.arange(B, device=CUDA).repeat_interleave(k)
    vals = torch.randn(B * k, generator=g).to(CUDA)
    ref = torch.zeros(S, d, device=CUDA).index_put_((idx.reshape(-1),), vals[:, None] * y[rows], accumulate=True)
    torch.testing.assert_close(trainer_mod._spmm_t(idx.reshape(-1), rows, vals, y, S), ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(trainer_mod._spmm_dense(idx.reshape(-1), rows, vals, y, S), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("select_dtype", ["float32", "bfloat16"])
def test_one_step_gradients_match_cpu(select_dtype):
    """fp32 selection: the same top-k on both devices, so the sparse gradients must agree. bf16 selection can break
    bf16 ties differently per device, so there only the loss is compared."""
    torch.manual_seed(0)
    x = torch.randn(64, 16) * 3 + 1
    grads, trainers = [], []
    for device in ("cpu", "cuda"):
        tr = TopKTrainer(16, TrainConfig(d_sae=64, k=4, aux_k=8, dead_tokens=0, lr=1e-3, select_dtype=select_dtype,
                                         device=device))
        tr.init_from_sample(x)
        tr.b_enc.copy_(0.1 * torch.randn(64, generator=torch.Generator().manual_seed(1)))
        tr.opt.step = lambda: None  # capture gradients without updating
        m = tr.step(x)  # a CPU batch: the trainer moves it
        assert all(p.device.type == device for p in tr.params()) and tr.since_fired.device.type == device
        grads.append([p.grad.cpu() for p in tr.params()])
        trainers.append((tr, m))
    (_, m_cpu), (_, m_gpu) = trainers
    if select_dtype == "bfloat16":
        assert m_gpu["fvu"] == pytest.approx(m_cpu["fvu"], rel=2e-2)
        assert all(torch.isfinite(g).all() for g in grads[1])
        return
    assert m_gpu["fvu"] == pytest.approx(m_cpu["fvu"], rel=1e-4) and m_gpu["l0"] == m_cpu["l0"]
    assert m_gpu["dead_fraction"] == m_cpu["dead_fraction"]
    for name, a, b in zip(TopKTrainer.NAMES, *grads):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4, msg=name)


def _ev(sae, x):
    with torch.no_grad():
        recon, _ = sae(x)
    return float(1 - (recon - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


def test_training_on_cuda_matches_cpu_and_checkpoints_cross_devices(tmp_path):
    x, feats = _planted(24_000)
    store, held = _store(tmp_path, x[:20_000]), x[20_000:]
    kw = dict(d_sae=128, k=4, batch_size=512, total_tokens=512 * 300, lr=4e-3, dead_tokens=20_000,
              checkpoint_every=50)
    gpu = train(store, TrainConfig(**kw, device="cuda"), tmp_path / "gpu")
    cpu = train(store, TrainConfig(**kw, device="cpu"), tmp_path / "cpu")
    assert gpu.W_dec.device.type == "cuda" and gpu.step_n == cpu.step_n == 300
    sae_g, sae_c = gpu.to_sae(), cpu.to_sae()
    assert sae_g.device.type == "cpu"
    ev_g, ev_c = _ev(sae_g, held), _ev(sae_c, held)
    assert ev_c > 0.9 and abs(ev_g - ev_c) < 0.02, (ev_g, ev_c)
    best = (F.normalize(gpu.W_dec, dim=1).cpu() @ feats.T).max(0).values
    assert (best > 0.9).float().mean() > 0.8, best

    # a checkpoint written on the GPU holds CPU tensors and resumes on the CPU (and the other way round)
    for first, then in (("cuda", "cpu"), ("cpu", "cuda")):
        out = tmp_path / f"{first}-{then}"
        calls = {"n": 0}

        def cancel(calls=calls):
            calls["n"] += 1
            return calls["n"] == 121

        part = train(store, TrainConfig(**kw, device=first), out, cancel=cancel)
        assert part.step_n == 120
        tensors, _ = part.state()
        assert all(t.device.type == "cpu" for t in tensors.values())
        loaded, _ = TopKTrainer.load_checkpoint(out, device=then)
        assert loaded.W_dec.device.type == then and loaded.step_n == 120
        for p, q in zip(part.params(), loaded.params()):
            assert torch.equal(p.cpu(), q.cpu())
        for p, q in zip(part.params(), loaded.params()):
            sp, sq = part.opt.state[p], loaded.opt.state[q]
            assert torch.equal(sp["exp_avg"].cpu(), sq["exp_avg"].cpu()) and float(sp["step"]) == float(sq["step"])
            assert sq["exp_avg"].device.type == then
        resumed = train(store, TrainConfig(**kw, device=then), out)
        assert resumed.step_n == 300 and resumed.W_dec.device.type == then
        assert abs(_ev(resumed.to_sae(), held) - ev_c) < 0.02


# --- evaluation and the dictionary --------------------------------------------------------------------------
def test_evaluate_on_cuda_matches_cpu():
    ctx = contexts(16)
    keys = ("explained_variance", "fvu", "mse", "ce_clean", "ce_sae", "ce_zero_ablation", "delta_loss")
    res = {}
    for name, model_dev, sae_dev in (("cpu", "cpu", "cpu"), ("cuda", "cuda", "cuda"), ("mixed", "cuda", "cpu")):
        sae = random_sae(hook=HOOK).to(sae_dev)
        res[name] = evaluate(lm_on(model_dev).model, sae, ctx, HOOK, bos_id=1, batch_size=5)
    for name in ("cuda", "mixed"):
        for k in keys:
            assert res[name][k] == pytest.approx(res["cpu"][k], rel=1e-3, abs=1e-4), (name, k)
        assert res[name]["tokens"] == res["cpu"]["tokens"]
        assert abs(res[name]["l0"] - res["cpu"]["l0"]) < 0.05
        assert abs(res[name]["dead_fraction"] - res["cpu"]["dead_fraction"]) < 0.02


def test_dictionary_with_a_cuda_sae_matches_cpu(tmp_path):
    lm = lm_on("cpu")
    store = collect(lm.model, contexts(40), HOOK, tmp_path / "s", bos_id=1, batch_size=8)
    W_U = lm.model.get_output_embeddings().weight
    d_cpu = build_dictionary(random_sae(d_sae=96, k=6, hook=HOOK), store, lm.tokenizer, W_U, tmp_path / "dc")
    d_gpu = build_dictionary(random_sae(d_sae=96, k=6, hook=HOOK).to("cuda"), store, lm.tokenizer, W_U.to("cuda"),
                             tmp_path / "dg")
    np.testing.assert_allclose(d_gpu.a["max_activation"], d_cpu.a["max_activation"], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(d_gpu.a["density"], d_cpu.a["density"], atol=2e-3)
    np.testing.assert_allclose(d_gpu.a["top_logit_values"], d_cpu.a["top_logit_values"], rtol=1e-4, atol=1e-4)
    assert np.array_equal(d_gpu.a["top_logit_ids"], d_cpu.a["top_logit_ids"])
    best = d_cpu.a["ex_count"][:, 0] > 0
    assert best.any() and np.array_equal(d_gpu.a["ex_count"][:, 0] > 0, best)


def test_lite_engine_gives_the_cpu_greedy_tokens_on_cuda(tmp_path):
    """The lite engine (the bundled model's engine) on CUDA: no CPU row kernel is used, and float32 greedy tokens
    equal the CPU's."""
    from desktop_sae.core.engine.lite.choice import load_lite_model
    from test_llama_lite import _greedy
    from tiny import save_tiny_llama

    folder = save_tiny_llama(tmp_path / "tiny-llama", seed=1)
    cpu = load_lite_model(folder, torch.device("cpu"), torch.float32)
    gpu = load_lite_model(folder, CUDA, torch.float32)
    assert gpu.row_kernel == "linear" and gpu.device.type == "cuda"
    for ids in ([1, 5, 9, 40, 2, 7], [1, *range(20, 60)]):
        ta, la = _greedy(cpu, ids, 30)
        tb, lb = _greedy(gpu, ids, 30)
        assert ta == tb
        assert (la - lb.cpu()).abs().max() < 1e-3


def test_attribution_graph_on_cuda_equals_cpu():
    """The same graph (node effects, edges, an ablation's actual change) on CUDA and on the CPU."""
    from desktop_sae.core.attribution.attributor import Attributor
    from desktop_sae.core.attribution.depths import depth_sae
    from desktop_sae.core.attribution.interventions import set_activations

    ids = [1, 5, 9, 40, 77, 3, 12, 200, 150]
    graphs = {}
    for dev in ("cpu", "cuda"):
        lm = lm_on(dev)
        saes = [depth_sae(random_sae(hook=f"blocks.{layer}.hook_resid_post", seed=layer), f"L{layer}", 3, 64,
                          torch.device(dev)) for layer in (0, 1)]
        att = Attributor(lm, saes)
        target = att.candidates(ids, 1)[0].token_id
        g, state = att.graph(ids, target)
        top = g.features()[0]
        graphs[dev] = (g, set_activations(state, [top], [0.0])[0])
    (gc, ic), (gg, ig) = graphs["cpu"], graphs["cuda"]
    assert [n.key for n in gc.nodes] == [n.key for n in gg.nodes]
    assert np.allclose([n.effect for n in gc.nodes], [n.effect for n in gg.nodes], atol=1e-3)
    assert len(gc.edges) == len(gg.edges)
    assert ic.actual == pytest.approx(ig.actual, abs=1e-3) and ic.predicted == pytest.approx(ig.predicted, abs=1e-3)
