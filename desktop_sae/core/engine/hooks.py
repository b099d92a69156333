"""SAELens/TransformerLens-style hook points on Hugging Face models, installed so they can never leak.

``blocks.{L}.hook_resid_pre``  input of decoder layer L   ``blocks.{L}.hook_resid_post`` output of layer L
``blocks.{L}.hook_mlp_out``    output of layer L's MLP    ``blocks.{L}.hook_attn_out``   output of its attention
``blocks.{L}.hook_mlp_in``     input of layer L's MLP (after its pre-norm: where a transcoder reads)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from ..support.errors import HookPointError, UnsupportedArchitectureError

HookFn = Callable[[torch.Tensor], "torch.Tensor | None"]
# a forward-pre hook with kwargs: (module, args, kwargs) -> replacement (args, kwargs) or None
PreHook = Callable[[nn.Module, tuple[Any, ...], dict[str, Any]], "tuple[tuple[Any, ...], dict[str, Any]] | None"]
SITES = ("hook_resid_pre", "hook_resid_post", "hook_mlp_out", "hook_attn_out", "hook_mlp_in")
_HOOK_RE = re.compile(r"blocks\.(\d+)\.(" + "|".join(SITES) + ")")


@dataclass(frozen=True)
class Layout:
    """Where an architecture keeps its decoder layers and their sub-modules."""

    family: str
    layers_path: str
    attn_attr: str
    mlp_attr: str


LAYOUTS = (
    Layout("llama", "model.layers", "self_attn", "mlp"),  # Llama, Qwen, Mistral, Gemma, SmolLM, Phi-3, OLMo ...
    Layout("gpt2", "transformer.h", "attn", "mlp"),
    Layout("gpt_neox", "gpt_neox.layers", "attention", "mlp"),
)
SUPPORTED = "Llama-family (Llama, Qwen, Mistral, Gemma, SmolLM), GPT-2 and GPT-NeoX"


@dataclass(frozen=True)
class HookPoint:
    layer: int
    site: str

    @property
    def name(self) -> str:
        return f"blocks.{self.layer}.{self.site}"


def parse_hook_name(name: str) -> HookPoint:
    m = _HOOK_RE.fullmatch(name.strip())
    if not m:
        raise HookPointError(
            f"bad hook point {name!r}: expected blocks.<layer>.<site> with site one of {', '.join(SITES)}"
        )
    return HookPoint(int(m.group(1)), m.group(2))


def _get_path(obj: object, path: str) -> Any:  # Any: whatever attribute the dotted path names (or None)
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def layout_of(model: nn.Module) -> Layout:
    for lay in LAYOUTS:
        layers = _get_path(model, lay.layers_path)
        if isinstance(layers, nn.ModuleList) and len(layers) > 0:
            return lay
    mtype = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
    raise UnsupportedArchitectureError(f"model type {mtype!r} has no hook-point mapping; supported: {SUPPORTED}")


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    return _get_path(model, layout_of(model).layers_path)


def n_layers(model: nn.Module) -> int:
    return len(decoder_layers(model))


def resolve_hook(model: nn.Module, hook: HookPoint | str) -> tuple[nn.Module, str]:
    """(module, kind) for a hook point; kind is 'pre' (forward-pre hook on input) or 'post' (forward hook)."""
    hp = parse_hook_name(hook) if isinstance(hook, str) else hook
    lay = layout_of(model)
    layers = _get_path(model, lay.layers_path)
    if not 0 <= hp.layer < len(layers):
        raise HookPointError(
            f"hook {hp.name}: layer {hp.layer} is out of range, the model has layers 0..{len(layers) - 1}"
        )
    block = layers[hp.layer]
    if hp.site == "hook_resid_pre":
        return block, "pre"
    if hp.site == "hook_resid_post":
        return block, "post"
    sub = getattr(block, lay.mlp_attr if hp.site in ("hook_mlp_out", "hook_mlp_in") else lay.attn_attr, None)
    if sub is None:
        raise HookPointError(f"hook {hp.name}: this {lay.family} model's layer has no such sub-module")
    return sub, "pre" if hp.site == "hook_mlp_in" else "post"


def _swap_first(value: object, fn: HookFn) -> object:
    """Apply fn to the hidden-state tensor inside a module output/input (tensor or tuple), same type back."""
    if isinstance(value, torch.Tensor):
        new = fn(value)
        return value if new is None else new
    if isinstance(value, tuple) and value and isinstance(value[0], torch.Tensor):
        new = fn(value[0])
        return value if new is None else (new, *value[1:])
    return value


@contextlib.contextmanager
def hooks(model: nn.Module, fns: Mapping[str, HookFn]) -> Iterator[None]:
    """Install ``{hook_name: fn}`` for the duration of the block; fn gets [batch, seq, d] and may return a
    replacement. Handles are removed in ``finally``, so an exception (or cancellation) cannot leak a hook."""
    handles: list[RemovableHandle] = []
    try:
        for name, fn in fns.items():
            module, kind = resolve_hook(model, name)
            if kind == "post":
                handles.append(module.register_forward_hook(lambda m, a, out, fn=fn: _swap_first(out, fn)))
            else:
                handles.append(module.register_forward_pre_hook(_pre_hook(fn), with_kwargs=True))
        yield
    finally:
        for h in handles:
            h.remove()


def _pre_hook(fn: HookFn) -> PreHook:
    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
             ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        if args:
            new0 = _swap_first(args[0], fn)
            return (new0, *args[1:]), kwargs
        if "hidden_states" in kwargs:
            kwargs = dict(kwargs)
            kwargs["hidden_states"] = _swap_first(kwargs["hidden_states"], fn)
            return args, kwargs
        return None

    return hook


class StopForward(Exception):
    """Raised by a capture hook to end a forward pass early once the hooked layer has run."""


def capture(model: nn.Module, hook_name: str, stop: bool = True, **forward_kwargs: Any) -> torch.Tensor:
    """Run the model and return the activation at ``hook_name``; with ``stop`` the layers after it are skipped."""
    store: list[torch.Tensor] = []

    def grab(x: torch.Tensor) -> None:
        store.append(x.detach())
        if stop:
            raise StopForward

    with hooks(model, {hook_name: grab}):
        try:
            model(**forward_kwargs)
        except StopForward:
            pass
    if not store:
        raise HookPointError(f"hook {hook_name} did not fire during the forward pass")
    return store[0]
