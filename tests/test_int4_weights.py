"""4-bit weights (``--dtype int4``: core/support/int4_groups.py, row_setup.quantize_int4): Q4_1's codes on torch's
int4 kernel, 8-bit groups (Q8_0) as two 4-bit halves, batches of rows equal to rows one at a time, one consistent
model, the SAE encoder beside it, and the bundled GGUF's own codes kept."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from desktop_sae.core.engine import models
from desktop_sae.core.engine.benchmark import bytes_per_token
from desktop_sae.core.engine.lite import row_setup as rows
from desktop_sae.core.engine.lite.choice import load_lite_model
from desktop_sae.core.support import int4_groups as ig
from desktop_sae.core.support.row_kernels import RowKernel, RowWeight
from test_llama_lite import _greedy
from tiny import random_sae, save_tiny_llama


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("int4") / "tiny-llama", seed=4)


def _q4_1(n: int, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A weight as a Q4_1 file holds it (codes 0..15, float16 scale and minimum per 32), de-quantised in float32
    and rounded to bfloat16 as the converted model is; and its codes."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(0, 16, (n, k // 32, 32), generator=g)
    q[..., 0], q[..., 1] = 0, 15  # Q4_1's rule puts the group's minimum at 0 and its maximum at 15
    d = (torch.rand(n, k // 32, generator=g) * 0.02 + 1e-3).half().float()
    m = (-7.5 * d + torch.randn(n, k // 32, generator=g) * 0.01).half().float()
    w = (q.float() * d[..., None] + m[..., None]).reshape(n, k).to(torch.bfloat16)
    return w, q.reshape(n, k).int()


def test_q4_1_codes_come_back_exactly_and_the_product_uses_them():
    w, q = _q4_1(96, 128)
    got, d, z = ig.codes(w)
    assert torch.equal(got, q)  # the file's own codes
    q4 = ig.quantize(w)
    vals = ((q.float().reshape(96, 4, 32) - 8) * d.float()[..., None] + z.float()[..., None]).reshape(96, 128)
    assert torch.equal(q4.values, vals.to(torch.bfloat16))
    # the scales are bfloat16 (the kernel's), so the values sit within a scale rounding of the file's
    assert (q4.values.float() - w.float()).abs().max() <= 0.01 * w.float().abs().max()
    x = torch.randn(5, 128).to(torch.bfloat16)
    ref = x.float() @ vals.t()
    torch.testing.assert_close(ig.product(x, q4).float(), ref, rtol=0, atol=2e-2 * float(ref.abs().max()))


def test_eight_bit_groups_as_two_halves_compute_q8_0():
    g = torch.Generator().manual_seed(1)
    q = torch.randint(-127, 128, (40, 96), generator=g).float()
    q[:, ::32] = 127  # each group's largest magnitude sets its scale
    d = (torch.rand(40, 3, generator=g) * 0.01 + 1e-3).to(torch.bfloat16).float()
    w = (q.reshape(40, 3, 32) * d[..., None]).reshape(40, 96).to(torch.bfloat16)
    q8 = ig.quantize_8bit(w)
    assert q8.repeat == 2 and q8.rows == 40 and q8.packed.shape[0] == 48  # rows padded to 16s, outputs dropped
    assert (q8.values.float() - w.float()).abs().max() <= 4e-3 * w.float().abs().max()
    x = torch.randn(3, 96).to(torch.bfloat16)
    y = ig.product(x, q8)
    ref = x.float() @ q8.values.float().t()
    assert y.shape == (3, 40)
    torch.testing.assert_close(y.float(), ref, rtol=0, atol=1e-2 * float(ref.abs().max()))


@pytest.mark.parametrize("make", [ig.quantize, ig.quantize_8bit, "int8"])
def test_a_batch_of_rows_equals_the_rows_one_at_a_time(make):
    """The weight-only kernels compute each row alone: batched decoding gives the tokens of one at a time."""
    torch.manual_seed(2)
    w = torch.randn(200, 64).to(torch.bfloat16)
    if make == "int8":
        scale = (w.float().abs().amax(1) / 127).to(torch.bfloat16)
        data = torch.round(w.float() / scale.float()[:, None]).to(torch.int8)
        rw = RowWeight(w, RowKernel.INT8, data, scale)
    else:
        rw = RowWeight(w, RowKernel.INT4, make(w))
    x = torch.randn(9, 1, 64).to(torch.bfloat16)
    assert rw.takes(x) and not rw.takes(torch.randn(17, 1, 64).to(torch.bfloat16))
    assert not rw.takes(torch.randn(1, 9, 64).to(torch.bfloat16))  # a prompt's rows keep the block products
    together = rw(x)
    alone = torch.cat([rw(x[i : i + 1]) for i in range(9)])
    assert together.shape == (9, 1, 200) and torch.equal(together, alone)


def test_refusals():
    with pytest.raises(ValueError, match="groups of 32"):
        ig.quantize(torch.randn(8, 40).to(torch.bfloat16))
    with pytest.raises(ValueError, match="bfloat16"):
        ig.quantize_8bit(torch.randn(8, 64))
    assert ig.codes(torch.ones(2, 32, dtype=torch.bfloat16))[0].eq(8).all()  # a flat group: every code 8


def test_int4_weights_are_one_consistent_model(folder):
    ref = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    m = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    embed = m.model.embed_tokens.weight.clone()
    rows.quantize_int4(m)
    mlp, head = m.model.layers[1].mlp, m.lm_head
    assert mlp.row.kind == RowKernel.INT4 and head.row.kind == RowKernel.INT4 and head.row.data.repeat == 2
    assert torch.equal(mlp.fused, mlp.row.data.values) and torch.equal(mlp.up_proj.weight, mlp.fused[128:])
    assert torch.equal(m.model.embed_tokens.weight, embed)  # the input embedding keeps its values (own lm_head)
    assert head.weight.data_ptr() != m.model.embed_tokens.weight.data_ptr()
    # decoding (the int4 kernel) == a long prompt's forward (F.linear on the values the codes stand for)
    ids = [1, *range(20, 60)]
    with torch.inference_mode():
        cache = m(input_ids=torch.tensor([ids[:20]])).past_key_values
        steps = [m(input_ids=torch.tensor([[t]]), past_key_values=cache).logits[0, -1] for t in ids[20:]]
        full = m(input_ids=torch.tensor([ids])).logits[0, 20:]
    assert (torch.stack(steps).float() - full.float()).abs().max() < 5e-2
    # against the bfloat16 model: the stated agreement of greedy tokens (near ties may flip; here: all of them)
    agree = []
    for prompt in ([1, 5, 9, 40, 2, 7], [1, *range(20, 60)], [1, 100, 3, 77]):
        ta, _ = _greedy(m, prompt, 20)
        tb, _ = _greedy(ref, prompt, 20)
        agree.append(next((i for i, (a, b) in enumerate(zip(ta, tb)) if a != b), 20))
    assert min(agree) >= 5 and sum(agree) >= 40, agree
    with pytest.raises(ValueError, match="bfloat16 model"):
        rows.quantize_int4(load_lite_model(folder, torch.device("cpu"), torch.float32))


def test_int4_through_load_model_the_cli_choice_and_refusals(folder, monkeypatch):
    lm = models.load_model(str(folder), dtype="int4")
    assert lm.dtype == torch.bfloat16 and lm.extra["weights"] == "int4" and "int4 weights" in lm.describe().dtype
    assert lm.model.weights_int4 and lm.model.model.layers[0].self_attn.row.kind == "int4"
    from desktop_sae.cli import build_parser

    assert build_parser().parse_args(["--dtype", "int4"]).dtype == "int4"
    monkeypatch.setenv("DESKTOP_SAE_ENGINE", "transformers")
    with pytest.raises(models.ModelLoadError, match="lite engine"):
        models.load_model(str(folder), dtype="int4")


def test_bytes_per_token_counts_half_a_byte_per_weight(folder):
    m = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    before = bytes_per_token(m)
    rows.quantize_int4(m)
    packed = sum(mod.row.data.packed.numel() for mod, _ in rows.row_weights(m))
    scales = sum(mod.row.data.scales_zeros.numel() * 2 for mod, _ in rows.row_weights(m))
    norms = sum(p.numel() * 2 for n, p in m.named_parameters() if "norm" in n)
    assert bytes_per_token(m) == packed + scales + norms < before / 2


def test_the_sae_encoder_beside_int4_weights_reads_8_bit_groups():
    sae = random_sae(d_in=64, d_sae=256).to(torch.bfloat16).requires_grad_(False)
    x = torch.randn(4, 1, 64, dtype=torch.bfloat16)
    plain = sae.input_pre_activations(x)
    sae.use_row_kernel("int4")
    got = sae.input_pre_activations(x)
    torch.testing.assert_close(got.float(), plain.float(), rtol=0, atol=2e-2 * float(plain.abs().max()))
    alone = torch.cat([sae.input_pre_activations(x[i : i + 1]) for i in range(4)])
    assert torch.equal(got, alone)  # a batch's rows equal the rows one at a time
    prompt = torch.randn(1, 12, 64, dtype=torch.bfloat16)  # a prompt's rows: the plain product
    assert sae._rows(prompt, sae.W_enc) is None


@pytest.mark.integration
def test_the_bundled_gguf_keeps_its_own_4_bit_codes():
    """Every Q4_1 tensor of the bundled file: the codes the int4 path computes with are the file's."""
    import gguf

    from desktop_sae.core.engine.model_cache import bundled_gguf_path

    reader = gguf.GGUFReader(str(bundled_gguf_path()))
    tensors = {t.name: t for t in reader.tensors}
    lm = models.load_model(dtype="bfloat16")
    cfg = lm.model.config
    names = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
             "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
    checked = same = 0
    for i, layer in enumerate(lm.model.model.layers):
        for mod in (layer.self_attn, layer.mlp):
            for ours, theirs in names.items():
                if not hasattr(mod, ours):
                    continue
                t = tensors[f"blk.{i}.{theirs}.weight"]
                assert t.tensor_type.name == "Q4_1"
                blocks = np.asarray(t.data).reshape(t.data.shape[0], -1, 20)[..., 4:]
                file_codes = torch.from_numpy(np.concatenate([blocks & 15, blocks >> 4], -1).astype(np.int32))
                file_codes = file_codes.reshape(t.data.shape[0], -1)
                if ours in ("q_proj", "k_proj"):  # llama.cpp's converter permutes q/k rows for its RoPE layout
                    heads = cfg.num_attention_heads if ours == "q_proj" else cfg.num_key_value_heads
                    n, k = file_codes.shape
                    file_codes = file_codes.reshape(heads, n // heads // 2, 2, k).transpose(1, 2).reshape(n, k)
                codes, _, _ = ig.codes(getattr(mod, ours).weight.data)
                checked += codes.numel()
                same += int((codes == file_codes).sum())
    assert checked == sum(p.numel() for n, p in lm.model.named_parameters() if n.endswith("_proj.weight"))
    assert same == checked


def test_fused_weights_keep_their_values_through_int4(folder):
    """q/k/v and gate/up stay views into the fused buffer, which the 4-bit values replaced in place."""
    m = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    rows.quantize_int4(m)
    a = m.model.layers[0].self_attn
    x = torch.randn(1, 1, 64).to(torch.bfloat16)
    torch.testing.assert_close(F.linear(x, a.fused)[..., :64], F.linear(x, a.q_proj.weight))
