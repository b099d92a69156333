"""The ``hook_mlp_in`` site: the MLP's input after the layer's pre-MLP norm, where a transcoder reads."""

import pytest
import torch

from desktop_sae.core.engine.hooks import capture, hooks, parse_hook_name, resolve_hook
from desktop_sae.core.support.errors import HookPointError
from tiny import tiny_model


@pytest.mark.parametrize("family", ["llama", "gpt2", "gpt_neox"])
def test_mlp_in_is_the_input_the_mlp_module_receives(family):
    model = tiny_model(family)
    ids = torch.tensor([[1, 5, 9, 40]])
    seen = []
    mlp = resolve_hook(model, "blocks.1.hook_mlp_out")[0]
    handle = mlp.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    try:
        with torch.no_grad():
            got = capture(model, "blocks.1.hook_mlp_in", stop=False, input_ids=ids)
    finally:
        handle.remove()
    torch.testing.assert_close(got, seen[0], rtol=0, atol=0)


def test_llama_mlp_in_is_the_post_attention_norm_of_the_residual():
    model = tiny_model("llama")
    ids = torch.tensor([[1, 5, 9, 40]])
    with torch.no_grad():
        got = {}
        names = ["blocks.1.hook_resid_pre", "blocks.1.hook_attn_out", "blocks.1.hook_mlp_in"]
        with hooks(model, {n: (lambda x, n=n: got.__setitem__(n, x.clone())) for n in names}):
            model(input_ids=ids)
        mid = got[names[0]] + got[names[1]]
        want = model.model.layers[1].post_attention_layernorm(mid)
    torch.testing.assert_close(got[names[2]], want, rtol=1e-6, atol=1e-6)


def test_replacing_the_mlp_input_changes_the_mlp_output():
    model = tiny_model("llama")
    ids = torch.tensor([[1, 5, 9]])
    got = {}

    def doubled(x):
        got["in"] = x.clone()
        return x * 2

    with torch.no_grad(), hooks(model, {"blocks.0.hook_mlp_in": doubled,
                                        "blocks.0.hook_mlp_out": lambda x: got.__setitem__("out", x.clone())}):
        model(input_ids=ids)
        want = model.model.layers[0].mlp(got["in"] * 2)
    torch.testing.assert_close(got["out"], want, rtol=0, atol=0)


def test_mlp_in_parses_and_a_bad_site_names_it():
    assert parse_hook_name("blocks.3.hook_mlp_in").site == "hook_mlp_in"
    with pytest.raises(HookPointError, match="hook_mlp_in"):
        parse_hook_name("blocks.3.hook_mlp_inn")
