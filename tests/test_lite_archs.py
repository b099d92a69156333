"""Gemma 3 (text), Qwen3 and Llama 3.2 in the lite engine against transformers: configs read as the hub writes them,
the same logits and greedy tokens (float32 and bfloat16, prompts longer than Gemma's sliding window, padded
batches), and every hook site reading and writing the tensor transformers' own modules compute, on both engines.
SAE encoding, steering and int8: tests/test_lite_archs_session.py."""

import pytest
import torch

from desktop_sae.core.engine.hooks import SITES, capture, hooks, layout_of, parse_hook_name
from desktop_sae.core.engine.lite.choice import load_lite_model
from desktop_sae.core.engine.lite.config import AttnKind, LiteArch, LiteConfig, Unsupported, check_config
from desktop_sae.core.engine.lite.llama import LlamaLiteForCausalLM, ScaledEmbedding
from test_llama_lite import _greedy
from tiny import tiny_tokenizer
from tiny_archs import WINDOW, build_folder, real_config, tiny_configs

NAMES = list(tiny_configs(300))
PROMPT = [1, *range(20, 43)]  # 24 tokens: three sliding windows
REAL = ["google/gemma-3-270m-it", "google/gemma-3-1b-it", "Qwen/Qwen3-0.6B", "meta-llama/Llama-3.2-1B-Instruct"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    tok = tiny_tokenizer()
    root = tmp_path_factory.mktemp("archs")
    return {n: build_folder(root / n, cfg, seed=3, tokenizer=tok) for n, cfg in tiny_configs(len(tok)).items()}


def _hf(folder, dtype=torch.float32):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype).eval()


@pytest.fixture(scope="module")
def pairs(folders):
    """name -> (lite, transformers) in float32."""
    return {n: (load_lite_model(f, torch.device("cpu"), torch.float32), _hf(f)) for n, f in folders.items()}


# --- configs ------------------------------------------------------------------------------------------------------
def test_the_real_configs_are_read_as_transformers_reads_them():
    from transformers import AutoConfig

    for name in REAL:
        raw = real_config(name)
        check_config(raw)  # accepted
        ours, theirs = LiteConfig(raw), AutoConfig.for_model(**raw)
        assert [k.value for k in ours.layer_types] == list(getattr(theirs, "layer_types", None)
                                                           or ["full_attention"] * raw["num_hidden_layers"])
        assert ours.head_dim == theirs.head_dim and ours.tie_word_embeddings == theirs.tie_word_embeddings
        if ours.arch is LiteArch.GEMMA3:
            assert ours.attn_scale == 256**-0.5 and ours.embed_scale == raw["hidden_size"] ** 0.5
            assert ours.sliding_window == theirs.sliding_window == 512
            for kind in AttnKind:
                want = theirs.rope_parameters[kind.value]
                assert ours.rope_by_kind[kind]["rope_theta"] == want["rope_theta"]
                assert ours.rope_by_kind[kind]["rope_type"] == want["rope_type"] == "default"
        else:
            assert ours.rope_parameters["rope_theta"] == theirs.rope_parameters["rope_theta"]
            assert ours.rope_parameters["rope_type"] == theirs.rope_parameters["rope_type"]
    gemma = LiteConfig(real_config("google/gemma-3-1b-it"))  # no layer_types: every 6th layer is global
    assert [i for i, k in enumerate(gemma.layer_types) if k is AttnKind.FULL] == [5, 11, 17, 23]
    assert gemma.rope_by_kind[AttnKind.SLIDING]["rope_theta"] == 10000 and gemma.hidden_act == "gelu_pytorch_tanh"


@pytest.mark.parametrize("change,why", [
    ({"attn_logit_softcapping": 50.0}, "attention logit softcapping"),
    ({"use_bidirectional_attention": True}, "bidirectional"),
    ({"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"]}, "model_type 'gemma3'"),
    ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "rope type 'yarn'"),
    ({"layer_types": ["sliding_attention"]}, "every layer"),
])
def test_what_the_engine_does_not_compute_is_refused_with_a_reason(change, why):
    with pytest.raises(Unsupported, match=why):
        check_config({**real_config("google/gemma-3-1b-it"), **change})
    with pytest.raises(Unsupported, match="sliding-window Qwen3"):
        check_config({**real_config("Qwen/Qwen3-0.6B"), "use_sliding_window": True, "sliding_window": 4096})
    with pytest.raises(Unsupported, match="architectures"):
        check_config({**real_config("Qwen/Qwen3-0.6B"), "architectures": ["LlamaForCausalLM"]})


# --- logits and tokens --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_structure_mirrors_transformers(pairs, name):
    lite, hf = pairs[name]
    assert isinstance(lite, LlamaLiteForCausalLM)
    assert [n for n, _ in lite.named_parameters()] == [n for n, _ in hf.named_parameters()]
    ours, theirs = lite.state_dict(), hf.state_dict()
    assert sorted(ours) == sorted(theirs)
    for n, a in ours.items():
        assert torch.equal(a, theirs[n]), n
    assert lite.lm_head.weight is lite.model.embed_tokens.weight  # all four tie their embeddings
    assert isinstance(lite.model.embed_tokens, ScaledEmbedding) == name.startswith("gemma")
    assert hasattr(lite.model.layers[0].self_attn, "q_norm") == (not name.startswith("Llama"))
    assert layout_of(lite) == layout_of(hf)


@pytest.mark.parametrize("name", NAMES)
def test_same_logits_and_greedy_tokens_as_transformers_in_float32(pairs, name):
    lite, hf = pairs[name]
    with torch.inference_mode():
        for ids in (PROMPT, PROMPT[:WINDOW], [1, 5]):
            torch.testing.assert_close(lite(input_ids=torch.tensor([ids])).logits,
                                       hf(input_ids=torch.tensor([ids])).logits, rtol=0, atol=1e-4)
        want = hf.generate(torch.tensor([PROMPT]), max_new_tokens=24, do_sample=False, eos_token_id=None,
                           pad_token_id=0)[0, len(PROMPT):].tolist()
    toks, logits = _greedy(lite, PROMPT, 24)  # one token at a time through the KV cache, past the window
    assert toks == want and len(set(toks)) > 3
    toks_hf, logits_hf = _greedy(hf, PROMPT, 24)
    assert toks_hf == want
    torch.testing.assert_close(logits, logits_hf, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_greedy_tokens_in_bfloat16(folders, name, monkeypatch):
    # single rows on F.linear, transformers' own product (the other kernels: tests/test_llama_lite_rows.py)
    monkeypatch.setenv("DESKTOP_SAE_ROW_KERNEL", "linear")
    lite = load_lite_model(folders[name], torch.device("cpu"), torch.bfloat16)
    hf = _hf(folders[name], torch.bfloat16)
    toks, logits = _greedy(lite, PROMPT, 20)
    toks_hf, logits_hf = _greedy(hf, PROMPT, 20)
    assert toks == toks_hf
    torch.testing.assert_close(logits.float(), logits_hf.float(), rtol=0, atol=0.1)


@pytest.mark.parametrize("name", ["gemma-3-270m-it", "Qwen3-0.6B"])
def test_padded_batches_and_a_cache_past_the_window(pairs, name):
    lite, hf = pairs[name]
    ids = torch.tensor([[0, 0, 0, *PROMPT[:17]], PROMPT[:20]])
    mask = torch.tensor([[0, 0, 0] + [1] * 17, [1] * 20])
    with torch.inference_mode():
        a, b = lite(input_ids=ids, attention_mask=mask).logits, hf(input_ids=ids, attention_mask=mask).logits
        torch.testing.assert_close(a[0, 3:], b[0, 3:], rtol=0, atol=1e-4)
        torch.testing.assert_close(a[1], b[1], rtol=0, atol=1e-4)
        # a second chunk of several tokens on a cache already longer than the window
        first = lite(input_ids=torch.tensor([PROMPT[:14]]), use_cache=True)
        more = lite(input_ids=torch.tensor([PROMPT[14:]]), past_key_values=first.past_key_values).logits
        torch.testing.assert_close(more, hf(input_ids=torch.tensor([PROMPT])).logits[:, 14:], rtol=0, atol=1e-4)


# --- hook points --------------------------------------------------------------------------------------------------
def _reference(hf, name, layer, ids):
    """What each site must read, from transformers' own modules: attn_out / mlp_out = what the layer adds to the
    residual stream (for Gemma the outputs of the norms after attention and MLP), mlp_in = the MLP's input."""
    block, got = hf.model.layers[layer], {}
    gemma = name.startswith("gemma")
    mods = {"hook_attn_out": block.post_attention_layernorm if gemma else block.self_attn,
            "hook_mlp_out": block.post_feedforward_layernorm if gemma else block.mlp,
            "hook_mlp_in": block.pre_feedforward_layernorm if gemma else block.post_attention_layernorm}
    handles = [m.register_forward_hook(lambda m, a, out, s=s: got.__setitem__(s, (out[0] if isinstance(out, tuple)
                                                                                  else out).clone()))
               for s, m in mods.items()]
    try:
        with torch.inference_mode():
            hs = hf(input_ids=ids, output_hidden_states=True).hidden_states
    finally:
        for h in handles:
            h.remove()
    got["hook_resid_pre"], got["hook_resid_post"] = hs[layer], hs[layer + 1]
    return got


@pytest.mark.parametrize("name", NAMES)
def test_every_site_reads_the_right_tensor_on_both_engines(pairs, name):
    lite, hf = pairs[name]
    ids = torch.tensor([PROMPT[:12]])
    for layer in (0, 1):  # (the last layer's output in hidden_states has the final norm applied)
        ref = _reference(hf, name, layer, ids)
        for model, tol in ((hf, 0.0), (lite, 1e-5)):
            got = {}
            names = {f"blocks.{layer}.{s}": s for s in SITES}
            with torch.inference_mode(), hooks(model, {n: (lambda x, s=s, got=got: got.__setitem__(s, x.clone()))
                                                       for n, s in names.items()}):
                model(input_ids=ids)
            assert sorted(got) == sorted(SITES)
            for s in SITES:
                torch.testing.assert_close(got[s], ref[s], rtol=0, atol=tol, msg=f"{name} layer {layer} {s}")
            # resid_post = resid_pre + what attention adds + what the MLP adds
            torch.testing.assert_close(got["hook_resid_pre"] + got["hook_attn_out"] + got["hook_mlp_out"],
                                       got["hook_resid_post"], rtol=1e-5, atol=1e-5)
        # the transcoders' name for the MLP's input reads the same tensor
        assert parse_hook_name(f"blocks.{layer}.ln2.hook_normalized") == parse_hook_name(f"blocks.{layer}.hook_mlp_in")
        with torch.inference_mode():
            torch.testing.assert_close(capture(lite, f"blocks.{layer}.ln2.hook_normalized", input_ids=ids),
                                       ref["hook_mlp_in"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_writing_through_every_site_changes_the_output_as_transformers_does(pairs, name):
    lite, hf = pairs[name]
    ids = torch.tensor([PROMPT[:12]])
    v = torch.randn(64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        base = hf(input_ids=ids).logits
        for s in SITES:
            outs = []
            for model in (lite, hf):
                with hooks(model, {f"blocks.1.{s}": lambda x: x + v}):
                    outs.append(model(input_ids=ids).logits)
            torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-4, msg=f"{name} {s}")
            assert (outs[1] - base).abs().max() > 1e-2, s
