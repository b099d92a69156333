"""The lite engine's hook-free fast path (core/engine/lite/projections.py ``HookWatch``/``_call``): without hooks
below the decoder layers, a layer calls its parts' ``forward`` directly; the numbers are those of the path that
calls every part as a module (bit for bit, bfloat16 included), hooks added at any time still fire, and a module
swapped in after loading is watched too."""

import pytest
import torch

from desktop_sae.core.engine.hooks import hooks
from desktop_sae.core.engine.lite.choice import load_lite_model
from desktop_sae.core.engine.lite.llama import LiteMLP
from test_llama_lite import _greedy
from tiny import save_tiny_llama


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("fast") / "tiny-llama", seed=6)


def _noop(module, args, out):
    return None


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_path_equals_the_module_path_bit_for_bit(folder, dtype):
    m = load_lite_model(folder, torch.device("cpu"), dtype)
    ids = [1, *range(20, 50)]
    fast_tokens, fast_logits = _greedy(m, ids, 24)
    assert m.model._hook_watch.quiet(m.model.layers)
    # a no-op hook on one projection turns the fast path off everywhere: every part is called as a module
    h = m.model.layers[2].mlp.down_proj.register_forward_hook(_noop)
    assert not m.model._hook_watch.quiet(m.model.layers)
    slow_tokens, slow_logits = _greedy(m, ids, 24)
    h.remove()
    assert fast_tokens == slow_tokens and torch.equal(fast_logits, slow_logits)


def test_hooks_added_later_fire_on_every_part(folder):
    m = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    _greedy(m, [1, 5, 9], 2)  # the fast path has run (and gathered the hook tables)
    seen = []
    layer = m.model.layers[1]
    parts = {"norm": layer.input_layernorm, "attn": layer.self_attn, "o": layer.self_attn.o_proj,
             "mlp": layer.mlp, "gate": layer.mlp.gate_proj, "down": layer.mlp.down_proj,
             "post_norm": layer.post_attention_layernorm}
    handles = [mod.register_forward_hook(lambda *a, n=name: seen.append(n)) for name, mod in parts.items()]
    _greedy(m, [1, 5, 9], 1)
    for h in handles:
        h.remove()
    assert set(seen) == set(parts)


def test_a_module_swapped_in_after_loading_is_watched(folder):
    m = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    _greedy(m, [1, 5, 9], 2)
    old = m.model.layers[0].mlp
    new = LiteMLP(old.fused.clone(), old.down_proj.weight.clone())
    m.model.layers[0].mlp = new  # registered anew: the watch gathers the tables again
    seen = []
    new.up_proj.register_forward_hook(lambda *a: seen.append(1))
    _greedy(m, [1, 5, 9], 1)
    assert seen


def test_the_steering_hook_point_fires_on_the_fast_path(folder):
    """The app's taps sit on the layers themselves (resid_pre/resid_post): the parts below still take the fast
    path and the tap sees and changes every step."""
    m = load_lite_model(folder, torch.device("cpu"), torch.bfloat16)
    calls = []

    def tap(x):
        calls.append(x.shape)
        return x + 1.0

    plain, _ = _greedy(m, [1, 5, 9], 6)
    with hooks(m, {"blocks.1.hook_resid_post": tap}):
        assert m.model._hook_watch.quiet(m.model.layers)
        steered, _ = _greedy(m, [1, 5, 9], 6)
    assert len(calls) == 7 and steered != plain


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_rms_norm_on_reduced_precision_equals_the_float32_round_trip(dtype):
    """The lite RMSNorm hands bfloat16/float16 input to F.rms_norm directly: it must compute in float32 and round
    once, as transformers' explicit ``x.float()`` ... ``.to(dtype)`` does, whatever the scale and eps."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        scale = 10 ** (torch.rand(1, generator=g).item() * 6 - 4)
        x = (torch.randn(2, 3, 96, generator=g) * scale).to(dtype)
        for eps in (1e-5, 1e-6, 3.3e-6):
            assert torch.equal(F.rms_norm(x, (96,), eps=eps), F.rms_norm(x.float(), (96,), eps=eps).to(dtype))
