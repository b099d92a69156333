"""SAELens/TransformerLens-style hook points on Hugging Face models, installed so they can never leak.

``blocks.{L}.hook_resid_pre``  input of decoder layer L     ``blocks.{L}.hook_resid_post`` output of layer L
``blocks.{L}.hook_attn_out``   what layer L's attention adds to the residual stream
``blocks.{L}.hook_mlp_out``    what its MLP adds to the residual stream
``blocks.{L}.hook_mlp_in``     the MLP's input, after its pre-norm (TransformerLens: ``blocks.{L}.ln2.hook_normalized``,
                               the name transcoders use; both names parse to this site)

Which module's output (or input) each site reads is the architecture's :class:`Layout`: for Gemma 2/3 the attention
and the MLP add the output of a norm after them (``post_attention_layernorm``, ``post_feedforward_layernorm``),
which is what TransformerLens' hook_attn_out / hook_mlp_out and Gemma Scope's SAEs read.
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
from ..support.text_enum import TextEnum

HookFn = Callable[[torch.Tensor], "torch.Tensor | None"]
# a forward-pre hook with kwargs: (module, args, kwargs) -> replacement (args, kwargs) or None
PreHook = Callable[[nn.Module, tuple[Any, ...], dict[str, Any]], "tuple[tuple[Any, ...], dict[str, Any]] | None"]


class Site(TextEnum):
    """Where in a decoder layer a hook point reads (the text is its name after ``blocks.<layer>.``)."""

    RESID_PRE = "hook_resid_pre"
    RESID_POST = "hook_resid_post"
    MLP_OUT = "hook_mlp_out"
    ATTN_OUT = "hook_attn_out"
    MLP_IN = "hook_mlp_in"


SITES = tuple(s.value for s in Site)
SITE_ALIASES = {"ln2.hook_normalized": Site.MLP_IN}  # TransformerLens' names for the same tensors
_HOOK_RE = re.compile(r"blocks\.(\d+)\.(" + "|".join(re.escape(n) for n in (*SITES, *SITE_ALIASES)) + ")")
_HOOK_Z_RE = re.compile(r"blocks\.\d+\.(?:attn\.)?hook_z")  # the per-head attention output (not a site here)


class HookKind(TextEnum):
    PRE = "pre"  # a forward-pre hook: the module's input
    POST = "post"  # a forward hook: the module's output


@dataclass(frozen=True)
class Layout:
    """Where an architecture keeps its decoder layers and their sub-modules, and which module each site reads."""

    family: str
    layers_path: str
    attn_attr: str
    mlp_attr: str
    down_proj: str  # the MLP's output projection (its input: the MLP's neurons)
    attn_out: str = ""  # the layer's sub-module whose output is what attention adds ("" = attn_attr)
    mlp_out: str = ""  # the same for the MLP ("" = mlp_attr)
    marker: str = ""  # a layer attribute this layout needs (it then wins over later layouts at the same path)

    def site_module(self, site: Site) -> tuple[str, HookKind]:
        """(attribute of the decoder layer, "" for the layer itself; hook kind) that ``site`` reads."""
        if site is Site.RESID_PRE:
            return "", HookKind.PRE
        if site is Site.RESID_POST:
            return "", HookKind.POST
        if site is Site.MLP_IN:
            return self.mlp_attr, HookKind.PRE
        if site is Site.ATTN_OUT:
            return self.attn_out or self.attn_attr, HookKind.POST
        return self.mlp_out or self.mlp_attr, HookKind.POST


LAYOUTS = (
    # Gemma 2/3 (and OLMo 2): norms on what the attention and the MLP add, before the residual add
    Layout("gemma", "model.layers", "self_attn", "mlp", "down_proj", "post_attention_layernorm",
           "post_feedforward_layernorm", marker="post_feedforward_layernorm"),
    Layout("llama", "model.layers", "self_attn", "mlp", "down_proj"),  # Llama, Qwen, Mistral, Gemma 1, SmolLM ...
    Layout("gpt2", "transformer.h", "attn", "mlp", "c_proj"),
    Layout("gpt_neox", "gpt_neox.layers", "attention", "mlp", "dense_4h_to_h"),
)
SUPPORTED = "Llama-family (Llama, Qwen, Mistral, Gemma 1-3, SmolLM), GPT-2 and GPT-NeoX"


@dataclass(frozen=True)
class HookPoint:
    layer: int
    site: Site

    @property
    def name(self) -> str:
        return f"blocks.{self.layer}.{self.site}"


def parse_hook_name(name: str) -> HookPoint:
    m = _HOOK_RE.fullmatch(name.strip())
    if not m and _HOOK_Z_RE.fullmatch(name.strip()):
        raise HookPointError(
            f"{name} is the attention heads' output before the output projection (TransformerLens' hook_z, as wide "
            f"as heads x head size, where Gemma Scope 2's attn_out SAEs read), a site this app does not hook yet; "
            f"use an SAE at hook_resid_post or hook_mlp_out, or a transcoder"
        )
    if not m:
        raise HookPointError(
            f"bad hook point {name!r}: expected blocks.<layer>.<site> with site one of {', '.join(SITES)} "
            f"(or {', '.join(SITE_ALIASES)})"
        )
    site = SITE_ALIASES.get(m.group(2)) or Site(m.group(2))
    return HookPoint(int(m.group(1)), site)


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
            if not lay.marker or hasattr(layers[0], lay.marker):
                return lay
    mtype = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
    raise UnsupportedArchitectureError(f"model type {mtype!r} has no hook-point mapping; supported: {SUPPORTED}")


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    return _get_path(model, layout_of(model).layers_path)


def n_layers(model: nn.Module) -> int:
    return len(decoder_layers(model))


def resolve_hook(model: nn.Module, hook: HookPoint | str) -> tuple[nn.Module, HookKind]:
    """(module, kind) for a hook point: a forward-pre hook on the module's input or a forward hook on its output."""
    hp = parse_hook_name(hook) if isinstance(hook, str) else hook
    lay = layout_of(model)
    layers = _get_path(model, lay.layers_path)
    if not 0 <= hp.layer < len(layers):
        raise HookPointError(
            f"hook {hp.name}: layer {hp.layer} is out of range, the model has layers 0..{len(layers) - 1}"
        )
    attr, kind = lay.site_module(hp.site)
    sub = getattr(layers[hp.layer], attr, None) if attr else layers[hp.layer]
    if not isinstance(sub, nn.Module):
        raise HookPointError(f"hook {hp.name}: this {lay.family} model's layer has no {attr}")
    return sub, kind


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
            if kind is HookKind.POST:
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
