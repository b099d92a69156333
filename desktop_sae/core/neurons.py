"""Single MLP neurons, for the "polysemantic neurons" lesson: how strongly each neuron of one layer responds to
each of a few texts, and which neuron responds to a few unrelated texts while staying quiet on the rest.

A neuron's activation is the input of the MLP's output projection (after the nonlinearity and, for gated MLPs,
the gate): Llama-family ``mlp.down_proj``, GPT-2 ``mlp.c_proj``, GPT-NeoX ``mlp.dense_4h_to_h``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import UnsupportedArchitectureError

_LAYERS = (("model", "layers"), ("transformer", "h"), ("gpt_neox", "layers"))
_OUT_PROJ = (("mlp", "down_proj"), ("mlp", "c_proj"), ("mlp", "dense_4h_to_h"))


def _find(obj, paths):
    for path in paths:
        cur = obj
        for name in path:
            cur = getattr(cur, name, None)
        if cur is not None:
            return cur
    return None


def mlp_out_projection(model, layer: int):
    """The module whose input holds the MLP neurons of ``layer``."""
    layers = _find(model, _LAYERS)
    if layers is None:
        raise UnsupportedArchitectureError(f"cannot find the decoder layers of {type(model).__name__} "
                                           "(supported: Llama-family, GPT-2, GPT-NeoX)")
    if not 0 <= layer < len(layers):
        raise UnsupportedArchitectureError(f"layer {layer} is out of range: the model has {len(layers)} layers")
    proj = _find(layers[layer], _OUT_PROJ)
    if proj is None:
        raise UnsupportedArchitectureError(f"cannot find the MLP of layer {layer} in {type(model).__name__}")
    return proj


def neuron_max_activations(model, token_ids: Sequence[Sequence[int]], layer: int, skip_first: bool = True) -> np.ndarray:
    """[texts, neurons]: each neuron's largest activation over each text's tokens (the first token, usually BOS,
    skipped when ``skip_first`` and the text is longer than one token)."""
    import torch

    proj = mlp_out_projection(model, layer)
    device = next(model.parameters()).device
    grabbed: list = []
    handle = proj.register_forward_hook(lambda mod, args, out: grabbed.append(args[0][0].detach()))
    rows = []
    try:
        with torch.inference_mode():
            for ids in token_ids:
                grabbed.clear()
                model(input_ids=torch.tensor([list(ids)], device=device))
                a = grabbed[0]
                a = a[1:] if skip_first and a.shape[0] > 1 else a
                rows.append(a.float().max(0).values.cpu().numpy())
    finally:
        handle.remove()
    return np.stack(rows)


@dataclass(frozen=True)
class NeuronPick:
    neuron: int
    relative: tuple[float, ...]  # per text: activation / the neuron's largest over these texts (<= 1)
    fires_on: tuple[int, ...]  # texts where relative >= the threshold
    gap: float  # weakest of fires_on minus strongest of the rest


def pick_mixed_neuron(acts: np.ndarray, min_texts: int = 2, max_texts: int = 4, threshold: float = 0.5) -> NeuronPick | None:
    """The neuron (column of ``acts`` [texts, neurons]) that fires at >= ``threshold`` of its own maximum on
    ``min_texts``..``max_texts`` texts with the clearest gap to the others, favouring neurons whose maximum is not
    tiny next to the layer's median. None when no neuron qualifies."""
    acts = np.asarray(acts, dtype=np.float64)
    top = acts.max(0)
    ok = top > 0
    if not ok.any():
        return None
    rel = np.where(ok, acts / np.where(ok, top, 1.0), 0.0)
    high = rel >= threshold
    count = high.sum(0)
    rest = np.where(high, -np.inf, rel).max(0)
    low_of_high = np.where(high, rel, np.inf).min(0)
    max_texts = min(max_texts, acts.shape[0] - 1)  # some text must stay quiet
    gap = np.where((count >= min_texts) & (count <= max_texts) & ok, low_of_high - rest, -np.inf)
    weight = np.sqrt(np.clip(top / max(float(np.median(top[ok])), 1e-12), 0.0, 4.0))
    finite = np.isfinite(gap)
    score = np.where(finite, np.where(finite, gap, 0.0) * weight, -np.inf)  # never inf * 0 = nan
    n = int(np.argmax(score))
    if not np.isfinite(gap[n]) or gap[n] <= 0:
        return None
    return NeuronPick(n, tuple(float(v) for v in rel[:, n]), tuple(int(i) for i in np.flatnonzero(high[:, n])),
                      float(gap[n]))
