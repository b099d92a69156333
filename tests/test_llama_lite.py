"""The lite engine (core/engine/lite/llama.py, lite_engine.py) against transformers: same logits, tokens and hook
activations; fallbacks; and a start-up that imports no transformers (the tokenizer: test_tokenizer_lite.py)."""

import json
import subprocess
import sys

import pytest
import torch

from desktop_sae.core.engine import models
from desktop_sae.core.engine.generation import cache_kwarg, generate_tokens
from desktop_sae.core.engine.hooks import capture
from desktop_sae.core.engine.lite.choice import load_lite, load_lite_model
from desktop_sae.core.engine.lite.kv_cache import LiteCache
from desktop_sae.core.engine.lite.llama import LlamaLiteForCausalLM
from desktop_sae.core.engine.lite.tokenizer import LiteTokenizer
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import Session
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from tiny import random_sae, tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A tiny random Llama (GQA: 4 heads, 2 KV heads) saved as an HF folder, and its transformers twin."""
    f = tmp_path_factory.mktemp("lite") / "tiny-llama"
    hf = tiny_model("llama", layers=3, seed=1)
    hf.save_pretrained(f)
    tiny_tokenizer().save_pretrained(f)
    return f


@pytest.fixture(scope="module")
def hf(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def lite(folder):
    return load_lite_model(folder, torch.device("cpu"), torch.float32)


def _greedy(model, ids, n):
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids], device=model.device), use_cache=True, logits_to_keep=1)
        toks, logits = [], [out.logits[0, -1]]
        for _ in range(n):
            cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
            toks.append(int(out.logits[0, -1].argmax()))
            kw = {cache_kwarg(model): cache}
            nxt = torch.tensor([[toks[-1]]], device=model.device)
            out = model(input_ids=nxt, use_cache=True, logits_to_keep=1, **kw)
            logits.append(out.logits[0, -1])
    return toks, torch.stack(logits)


def test_structure_mirrors_transformers(lite, hf):
    assert isinstance(lite, LlamaLiteForCausalLM)
    assert [n for n, _ in lite.named_parameters()] == [n for n, _ in hf.named_parameters()]
    assert sum(p.numel() for p in lite.parameters()) == sum(p.numel() for p in hf.parameters())
    assert lite.lm_head.weight is lite.model.embed_tokens.weight  # tied, as in transformers
    ours, theirs = lite.state_dict(), hf.state_dict()
    assert sorted(ours) == sorted(theirs)
    for n, a in ours.items():
        assert torch.equal(a, theirs[n]), n
    attn = lite.model.layers[0].self_attn
    assert attn.q_proj.weight.data_ptr() == attn.fused.data_ptr()  # views into the fused weight, not copies
    assert lite.get_output_embeddings() is lite.lm_head and lite.config.num_hidden_layers == 3
    assert lite.generation_config.eos_token_id == hf.generation_config.eos_token_id


def test_same_logits_and_greedy_tokens_as_transformers(lite, hf):
    for ids in ([1, 5, 9, 40, 2, 7], [1, *range(20, 60)], [3]):
        with torch.inference_mode():
            torch.testing.assert_close(
                lite(input_ids=torch.tensor([ids])).logits, hf(input_ids=torch.tensor([ids])).logits, rtol=0, atol=1e-5
            )
        ta, la = _greedy(lite, ids, 40)
        tb, lb = _greedy(hf, ids, 40)
        assert ta == tb
        assert (la - lb).abs().max() < 1e-4


def test_padding_mask_positions_and_chunked_prefill(lite, hf):
    ids = torch.tensor([[0, 0, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    with torch.inference_mode():
        a = lite(input_ids=ids, attention_mask=mask, use_cache=False).logits
        b = hf(input_ids=ids, attention_mask=mask, use_cache=False).logits
        torch.testing.assert_close(a[0, 2:], b[0, 2:], rtol=0, atol=1e-5)
        torch.testing.assert_close(a[1], b[1], rtol=0, atol=1e-5)
        pos = torch.tensor([[7, 8, 9]])
        torch.testing.assert_close(
            lite(input_ids=ids[:1, 3:], position_ids=pos).logits,
            hf(input_ids=ids[:1, 3:], position_ids=pos).logits,
            rtol=0,
            atol=1e-5,
        )
        # a prompt fed in two chunks through a small cache (which has to grow) == the whole prompt at once
        full = lite(input_ids=ids[1:]).logits
        cache = LiteCache(3, 1, 2, 16, torch.float32, torch.device("cpu"), capacity=2)
        lite(input_ids=ids[1:, :4], past_key_values=cache)
        part = lite(input_ids=ids[1:, 4:], past_key_values=cache).logits
        assert cache.length == 6 and cache.capacity >= 6
        torch.testing.assert_close(part, full[:, 4:], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "hook", ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_post", "blocks.2.hook_mlp_out", "blocks.1.hook_attn_out"]
)
def test_hook_points_capture_the_same_activations(lite, hf, hook):
    ids = torch.tensor([[1, 5, 9, 40, 2, 7, 11]])
    with torch.inference_mode():
        torch.testing.assert_close(
            capture(lite, hook, input_ids=ids), capture(hf, hook, input_ids=ids), rtol=0, atol=1e-5
        )


def test_session_with_sae_and_steering_matches_transformers(folder, lite, hf):
    tok = LiteTokenizer.from_folder(folder)
    results = []
    for model in (lite, hf):
        lm = models.LoadedModel(
            model=model,
            tokenizer=tok,
            name="tiny",
            source="folder",
            location=str(folder),
            device=torch.device("cpu"),
            dtype=torch.float32,
        )
        s = Session(lm, random_sae(hook="blocks.1.hook_resid_post"))
        steer = SteeringConfig((SteerSpec(3, 2.0), SteerSpec(17, -1.0), SteerSpec(40, 1.5)))
        results.append(s.generate("hello world", SamplingConfig(temperature=0.7, max_new_tokens=30), steer))
    a, b = results
    assert a.answer_ids == b.answer_ids and len(a.answer_ids) > 5
    for ea, eb in zip(a.events, b.events):
        assert (ea.top_ids == eb.top_ids).all() and abs(ea.norm - eb.norm) < 1e-3


def test_stopped_forward_leaves_the_cache_usable(lite):
    """generation.py stops the last forward after the hook layer; the cache must not count that token."""
    tok = LiteTokenizer.from_folder(lite.name_or_path)
    ids = [1, 5, 9, 40]
    sc = SamplingConfig(temperature=0, max_new_tokens=12, frequency_penalty=0)
    plain = generate_tokens(lite, tok, ids, sc)
    tap = _Tap()
    tapped = generate_tokens(lite, tok, ids, sc, tap=tap, hook_name="blocks.0.hook_resid_post")
    assert plain.answer_ids == tapped.answer_ids and len(tapped.answer_ids) == 12
    cache = LiteCache(3, 1, 2, 16, torch.float32, torch.device("cpu"), capacity=8)
    with torch.inference_mode():
        lite(input_ids=torch.tensor([ids]), past_key_values=cache)
        capture(lite, "blocks.0.hook_resid_post", input_ids=torch.tensor([[7]]), past_key_values=cache)
        assert cache.length == 4
        a = lite(input_ids=torch.tensor([[8]]), past_key_values=cache).logits
        b = lite(input_ids=torch.tensor([[*ids, 8]])).logits[:, -1:]
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


class _Tap:
    stop_after = False
    mask = None
    last = None

    def __call__(self, x):
        from desktop_sae.core.engine.hooks import StopForward
        from desktop_sae.core.engine.sae_tap import TapRecord

        self.last = TapRecord(None, None, None, x[0].float().norm(dim=-1))
        if self.stop_after:
            raise StopForward


def test_dtype_conversion_keeps_fused_views(folder, hf):
    m = load_lite_model(folder, torch.device("cpu"), torch.float32).to(torch.bfloat16)
    attn = m.model.layers[1].self_attn
    assert attn.fused.dtype == torch.bfloat16 and attn.k_proj.weight.data_ptr() != attn.fused.data_ptr()
    assert attn.k_proj.weight.untyped_storage().data_ptr() == attn.fused.untyped_storage().data_ptr()
    ids = torch.tensor([[1, 5, 9, 40, 2, 7]])
    with torch.inference_mode():
        assert (m(input_ids=ids).logits.float() - hf(input_ids=ids).logits).abs().max() < 0.1


def test_generate_delegates_to_transformers(lite, hf):
    ids = torch.tensor([[1, 5, 9, 40]])
    a = lite.generate(input_ids=ids, max_new_tokens=8, do_sample=False, pad_token_id=0)
    b = hf.generate(input_ids=ids, max_new_tokens=8, do_sample=False, pad_token_id=0)
    assert torch.equal(a, b)


# --- engine choice ------------------------------------------------------------------------------------
def test_load_model_uses_lite_for_llama_and_transformers_when_asked(folder, monkeypatch):
    lm = models.load_model(str(folder), dtype="float32")
    assert isinstance(lm.model, LlamaLiteForCausalLM) and isinstance(lm.tokenizer, LiteTokenizer)
    monkeypatch.setenv("DESKTOP_SAE_ENGINE", "transformers")
    assert type(models.load_model(str(folder), dtype="float32").model).__name__ == "LlamaForCausalLM"


def test_other_architectures_fall_back_to_transformers(tmp_path):
    gpt2 = tmp_path / "gpt2"
    tiny_model("gpt2").save_pretrained(gpt2)
    tiny_tokenizer().save_pretrained(gpt2)
    assert load_lite(gpt2, torch.device("cpu"), torch.float32) is None
    assert type(models.load_model(str(gpt2), dtype="float32").model).__name__ == "GPT2LMHeadModel"


def test_unsupported_rope_falls_back(folder, tmp_path):
    for f in folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((folder / "config.json").read_text())
    cfg["rope_parameters"] = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 2.0}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert load_lite(tmp_path, torch.device("cpu"), torch.float32) is None


def test_llama3_rope_matches_transformers(folder, tmp_path):
    from transformers import AutoModelForCausalLM

    for f in folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((folder / "config.json").read_text())
    cfg["rope_parameters"] = {
        "rope_type": "llama3",
        "rope_theta": 500000.0,
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    ids = torch.tensor([list(range(1, 200))])
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path), dtype=torch.float32).eval()
    with torch.inference_mode():
        torch.testing.assert_close(
            load_lite_model(tmp_path, torch.device("cpu"), torch.float32)(input_ids=ids).logits,
            hf(input_ids=ids).logits,
            rtol=0,
            atol=1e-5,
        )


def test_lite_start_imports_neither_transformers_nor_torch_distributed_tensor(folder):
    code = (
        "import sys, json\nfrom desktop_sae.core.engine.models import load_model\n"
        f"lm = load_model({str(folder)!r}, dtype='float32')\n"
        "ids = lm.tokenizer.apply_chat_template([{'role': 'user', 'content': 'hi'}], add_generation_prompt=True)\n"
        "lm.model(input_ids=__import__('torch').tensor([ids['input_ids']]))\n"
        "bad = ('transformers', 'torch.distributed.tensor', 'torch._dynamo', 'accelerate')\n"
        "print(json.dumps([type(lm.model).__name__, [m for m in bad if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["LlamaLiteForCausalLM", []]


def test_bfloat16_decoding_matches_transformers(folder):
    """bf16 single-token steps use the kernel chosen for this CPU (test_llama_lite_rows.py tries each): same
    tokens, logits within bfloat16 rounding."""
    from transformers import AutoModelForCausalLM

    lite = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    hf = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.bfloat16).eval()
    for ids in ([1, 5, 9, 40, 2, 7], [1, *range(20, 60)]):
        ta, la = _greedy(lite, ids, 30)
        tb, lb = _greedy(hf, ids, 30)
        assert ta == tb
        assert (la.float() - lb.float()).abs().max() <= 1e-2


def test_hooks_on_the_projections_fire_and_edit_like_transformers(lite, hf):
    """Hooks on q/o/up/down_proj see what transformers' see; one editing gate_proj's output edits the result
    the same way (the fused matmuls give way to the separate modules while a hook watches them)."""
    ids = torch.tensor([[1, 5, 9, 40, 2, 7]])

    def run(model):
        seen, handles = {}, []
        layer = model.model.layers[1]
        for name, mod in (
            ("q", layer.self_attn.q_proj),
            ("o", layer.self_attn.o_proj),
            ("up", layer.mlp.up_proj),
            ("down", layer.mlp.down_proj),
        ):
            handles.append(mod.register_forward_hook(lambda m, a, out, n=name: seen.__setitem__(n, (a[0], out))))
        handles.append(layer.mlp.gate_proj.register_forward_hook(lambda m, a, out: out * 0.5))
        try:
            with torch.inference_mode():
                return seen, model(input_ids=ids).logits
        finally:
            for h in handles:
                h.remove()

    (a, la), (b, lb) = run(lite), run(hf)
    assert a.keys() == b.keys() == {"q", "o", "up", "down"}
    for k in a:
        for x, y in zip(a[k], b[k]):
            torch.testing.assert_close(x, y, rtol=0, atol=1e-5)
    torch.testing.assert_close(la, lb, rtol=0, atol=1e-5)
    with torch.inference_mode():
        plain = lite(input_ids=ids).logits  # hooks gone: the fused path, without the edit
        torch.testing.assert_close(plain, hf(input_ids=ids).logits, rtol=0, atol=1e-5)
    assert (plain - la).abs().max() > 1e-3
