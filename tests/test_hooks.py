"""Hook points map onto the right module outputs, for all three families, and never leak."""

import pytest
import torch

from desktop_sae.core.engine.hooks import capture, hooks, layout_of, parse_hook_name, resolve_hook
from desktop_sae.core.support.errors import HookPointError, UnsupportedArchitectureError
from tiny import tiny_model

FAMILIES = ["llama", "gpt2", "gpt_neox"]


def n_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("family", FAMILIES)
def test_resid_hooks_match_hidden_states(family):
    model = tiny_model(family)
    ids = torch.tensor([[1, 5, 9, 40, 77, 12]])
    with torch.no_grad():
        hs = model(input_ids=ids, output_hidden_states=True).hidden_states
        before = n_hooks(model)  # transformers adds its own recording hooks on first use
        for layer in range(3):
            pre = capture(model, f"blocks.{layer}.hook_resid_pre", input_ids=ids)
            torch.testing.assert_close(pre, hs[layer], rtol=0, atol=0)
            if layer < 2:  # HF's last hidden state has the final norm applied; resid_post of the last layer does not
                post = capture(model, f"blocks.{layer}.hook_resid_post", input_ids=ids)
                torch.testing.assert_close(post, hs[layer + 1], rtol=0, atol=0)
    assert n_hooks(model) == before


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_attn_and_mlp_out_sum_to_the_residual_update(family):
    """Sequential residual blocks: resid_post = resid_pre + attn_out + mlp_out."""
    model = tiny_model(family)
    ids = torch.tensor([[1, 5, 9, 40]])
    with torch.no_grad():
        got = {}
        names = [f"blocks.1.{s}" for s in ("hook_resid_pre", "hook_attn_out", "hook_mlp_out", "hook_resid_post")]
        with hooks(model, {n: (lambda x, n=n: got.__setitem__(n, x.clone())) for n in names}):
            model(input_ids=ids)
    pre, attn, mlp, post = (got[n] for n in names)
    torch.testing.assert_close(pre + attn + mlp, post, rtol=1e-5, atol=1e-5)


def test_neox_attn_and_mlp_hooks_fire():
    model = tiny_model("gpt_neox")
    got = {}
    with torch.no_grad(), hooks(model, {"blocks.0.hook_attn_out": lambda x: got.update(a=x.shape),
                                        "blocks.0.hook_mlp_out": lambda x: got.update(m=x.shape)}):
        model(input_ids=torch.tensor([[1, 2, 3]]))
    assert got == {"a": (1, 3, 64), "m": (1, 3, 64)}


@pytest.mark.parametrize("family", FAMILIES)
def test_replacing_the_residual_changes_the_output(family):
    model = tiny_model(family)
    ids = torch.tensor([[1, 5, 9]])
    with torch.no_grad():
        base = model(input_ids=ids).logits
        with hooks(model, {"blocks.1.hook_resid_post": lambda x: x * 0}):
            zeroed = model(input_ids=ids).logits
        with hooks(model, {"blocks.1.hook_resid_pre": lambda x: None}):  # returning None keeps x
            same = model(input_ids=ids).logits
    assert not torch.allclose(base, zeroed)
    torch.testing.assert_close(base, same, rtol=0, atol=0)


def test_hooks_are_removed_after_an_exception():
    model = tiny_model("llama")
    before = n_hooks(model)

    def boom(x):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        with hooks(model, {"blocks.0.hook_resid_post": boom, "blocks.1.hook_resid_pre": lambda x: None}):
            model(input_ids=torch.tensor([[1, 2]]))
    assert n_hooks(model) == before


def test_bad_hook_names():
    model = tiny_model("llama")
    with pytest.raises(HookPointError, match="expected blocks"):
        parse_hook_name("layers.3.output")
    with pytest.raises(HookPointError, match="out of range, the model has layers 0..2"):
        resolve_hook(model, "blocks.3.hook_resid_post")


def test_unknown_architecture_names_supported_ones():
    class Odd(torch.nn.Module):
        pass

    with pytest.raises(UnsupportedArchitectureError, match="Llama-family.*GPT-2.*GPT-NeoX"):
        layout_of(Odd())
