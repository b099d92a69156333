"""Single-row kernels and int8 weights of the lite engine (core/support/row_kernels.py and row_setup.py): every
kernel computes the same products and the same greedy tokens as transformers, the choice is measured, remembered
and overridable, a stale kernel is never used, and int8 weights are one consistent model whose bytes the benchmark
counts right."""

import copy
import json

import pytest
import torch
import torch.nn.functional as F

from desktop_sae.core.engine import models
from desktop_sae.core.engine.benchmark import bytes_per_token
from desktop_sae.core.engine.lite import row_setup as rows
from desktop_sae.core.engine.lite.choice import load_lite_model
from desktop_sae.core.engine.lite.projections import _proj
from desktop_sae.core.support import row_kernels
from desktop_sae.core.support.row_blocks import ROW_BLOCK, padded_rows
from test_llama_lite import _greedy
from tiny import save_tiny_llama


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("rows") / "tiny-llama", seed=2)


def _kinds():
    return [k for k in row_kernels.KERNELS if k != "onednn" or row_kernels._onednn_available()]


def test_prompt_rows_come_in_few_sizes():
    # oneDNN keeps a primitive per row count: prompts of every length must map to a few (tests/reliability/test_soak.py)
    sizes = [padded_rows(n) for n in range(2, 4097)]
    assert all(n <= s <= max(n + 7, 1.25 * n) and s % 8 == 0 for n, s in zip(range(2, 4097), sizes))
    assert sizes == sorted(sizes) and len(set(sizes)) <= 40
    assert len({s for s in sizes if s <= ROW_BLOCK}) == 16  # the row counts a prompt's products use


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_several_rows_are_the_linear_product(dtype):
    torch.manual_seed(0)
    w = (torch.randn(96, 64) / 8).to(dtype)
    for shape in [(1, 3, 64), (2, 9, 64), (1, 17, 64), (3, 64), (1, 2 * ROW_BLOCK + 5, 64), (1, ROW_BLOCK, 64)]:
        x = torch.randn(shape).to(dtype)
        y = _proj(x, w)
        assert y.shape == (*shape[:-1], 96) and y.dtype == dtype and y.is_contiguous()
        torch.testing.assert_close(y, F.linear(x, w))  # bit for bit on the CPUs measured


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("kind", _kinds())
def test_every_kernel_computes_the_linear_product(kind, dtype):
    torch.manual_seed(0)
    w = (torch.randn(96, 64) / 8).to(dtype)
    x = torch.randn(1, 1, 64).to(dtype)
    y = row_kernels.RowWeight(w, kind)(x)
    assert y.shape == (1, 1, 96) and y.dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(y.float(), F.linear(x, w).float(), rtol=0, atol=tol)


@pytest.mark.parametrize("kind", _kinds())
def test_greedy_tokens_match_transformers_with_every_kernel(folder, kind):
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.bfloat16).eval()
    lite = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    rows.install(lite, kind)
    assert lite.model.layers[0].mlp.row.kind == kind and lite.lm_head.row.kind == kind
    for ids in ([1, 5, 9, 40, 2, 7], [1, *range(20, 60)]):
        ta, la = _greedy(lite, ids, 30)
        tb, lb = _greedy(hf, ids, 30)
        assert ta == tb
        assert (la.float() - lb.float()).abs().max() <= 1e-2


def test_choice_is_measured_remembered_and_overridable(folder, tmp_path, monkeypatch):
    lite = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    times = rows.measure_kernels(lite, rounds=1)
    assert set(times) == set(_kinds()) and all(t > 0 for t in times.values())
    cache = tmp_path / "row_kernels.json"
    calls = []
    fake = {"linear": 3.0, "mv": 1.0, "onednn": 2.0}
    monkeypatch.setattr(rows, "measure_kernels", lambda m: calls.append(1) or fake)
    assert rows.choose_kernel(lite, cache) == "mv" and lite.row_kernel == "mv"
    assert list(json.loads(cache.read_text()).values()) == ["mv"]
    assert rows.choose_kernel(lite, cache) == "mv" and len(calls) == 1  # remembered: not measured again
    cache.write_text("{not json")  # a damaged file is measured again and rewritten
    assert rows.choose_kernel(lite, cache) == "mv" and len(calls) == 2
    assert json.loads(cache.read_text())
    monkeypatch.setenv(rows.KERNEL_ENV, "linear")
    assert rows.choose_kernel(lite, cache) == "linear"
    assert {m.row.kind for m, _ in rows.row_weights(lite)} == {"linear"}
    monkeypatch.delenv(rows.KERNEL_ENV)
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert rows.choose_kernel(lite, blocked / "sub" / "x.json") == "mv"  # an unwritable cache only costs time


def test_a_stale_kernel_is_never_used(folder):
    """After ``.to()`` the modules hold new tensors: the prepared kernels are skipped, results follow the weights."""
    m = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    rows.install(m, "mv")
    attn = m.model.layers[0].self_attn
    assert attn.row.fresh(attn.fused)
    m = m.to(torch.float32)
    assert not attn.row.fresh(attn.fused)
    ref = load_lite_model(folder, torch.device("cpu"), torch.bfloat16).to(torch.float32)
    ta, la = _greedy(m, [1, 5, 9], 10)
    tb, lb = _greedy(ref, [1, 5, 9], 10)
    assert ta == tb and torch.equal(la, lb)


def test_int8_weights_are_one_consistent_model(folder):
    m = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    before = m.model.layers[1].mlp.fused.clone()
    rows.quantize_int8(m)
    mlp = m.model.layers[1].mlp
    assert mlp.row.kind == "int8" and mlp.row.data.dtype == torch.int8 and m.lm_head.row.kind != "int8"
    # the module's own weight now holds the int8 grid values (q * per-row scale), close to the original
    deq = (mlp.row.data.float() * mlp.row.scales.float()[:, None]).to(torch.bfloat16)
    assert torch.equal(mlp.fused, deq) and torch.equal(mlp.gate_proj.weight, deq[: mlp.gate_proj.weight.shape[0]])
    assert (mlp.fused.float() - before.float()).abs().max() <= before.float().abs().amax() / 127
    # decoding (int8 kernel, one row at a time) == a prompt forward (F.linear on the same weights)
    ids = [1, 5, 9, 40, 2, 7, 11, 3]
    with torch.inference_mode():
        cache = m(input_ids=torch.tensor([ids[:4]])).past_key_values
        steps = [m(input_ids=torch.tensor([[t]]), past_key_values=cache).logits[0, -1] for t in ids[4:]]
        full = m(input_ids=torch.tensor([ids])).logits[0, 4:]
    assert (torch.stack(steps).float() - full.float()).abs().max() < 5e-2
    with pytest.raises(ValueError, match="bfloat16 or float16"):
        rows.quantize_int8(load_lite_model(folder, torch.device("cpu"), torch.float32))


def test_int8_through_load_model_and_its_refusals(folder, monkeypatch):
    lm = models.load_model(str(folder), dtype="int8")
    assert lm.dtype == torch.bfloat16 and lm.extra["weights"] == "int8"
    assert lm.model.model.layers[0].self_attn.row.kind == "int8"
    monkeypatch.setenv("DESKTOP_SAE_ENGINE", "transformers")
    with pytest.raises(models.ModelLoadError, match="lite engine"):
        models.load_model(str(folder), dtype="int8")


def test_bytes_per_token_counts_what_a_step_reads(folder):
    m = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    proj = sum(p.numel() for n, p in m.named_parameters() if n.endswith("_proj.weight"))
    norms = sum(p.numel() for n, p in m.named_parameters() if "norm" in n)
    head = m.lm_head.weight.numel()
    assert bytes_per_token(m) == 2 * (proj + head + norms)
    rows.quantize_int8(m)
    out_rows = sum(mod.row.data.shape[0] for mod, _ in rows.row_weights(m)[:-1])
    assert bytes_per_token(m) == proj + 2 * out_rows + 2 * (head + norms)


@pytest.mark.parametrize("kind", _kinds())
def test_the_sae_encoder_row_product_equals_the_plain_product_and_follows_its_weights(kind):
    """A decoding step's encoder product on the model's row kernel (SAE.use_row_kernel) gives the plain product's
    values, for one bf16 row only, and is remade when W_enc is changed in place or converted."""
    from tiny import random_sae

    sae = random_sae(d_in=64, d_sae=256).to(torch.bfloat16)
    x = torch.randn(1, 1, 64, dtype=torch.bfloat16)
    plain = (x - sae.b_dec) @ sae.W_enc + sae.b_enc
    sae.use_row_kernel(kind)
    torch.testing.assert_close(sae.input_pre_activations(x), plain, rtol=1e-2, atol=1e-2)
    assert sae.encoder_product(torch.randn(3, 64, dtype=torch.bfloat16)).shape == (3, 256)  # several rows: blocks
    with torch.no_grad():
        sae.W_enc.mul_(2)  # in place: the prepared copy must not be used any more
    torch.testing.assert_close(sae.input_pre_activations(x), (x - sae.b_dec) @ sae.W_enc + sae.b_enc,
                               rtol=1e-2, atol=1e-2)
    twin = copy.deepcopy(sae)  # after a prepared product (oneDNN's is an opaque tensor): the copy prepares its own
    torch.testing.assert_close(twin.input_pre_activations(x), sae.input_pre_activations(x))
    sae.float()
    xf = x.float()
    assert sae._rows(xf, sae.W_enc) is None  # float32 rows keep the plain product
    torch.testing.assert_close(sae.input_pre_activations(xf), (xf - sae.b_dec) @ sae.W_enc + sae.b_enc)
