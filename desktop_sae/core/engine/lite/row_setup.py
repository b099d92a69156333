"""Setting up a lite model's single-row products: which kernel (``row_kernels.RowWeight``) each decoder
projection uses, and weight-only int8.

Decoding one token multiplies one activation row by every weight matrix once, so its speed is the speed at which
the kernel reads the weights. :func:`choose_kernel` times the candidates on the model's own weights, all of them in
turn as one token reads them (so they stream from memory, not from a cache), keeps the fastest, and remembers the
answer per CPU, torch version, dtype, thread count and weight shapes in the cache folder.

Weight-only int8 (:func:`quantize_int8`): every decoder projection is rounded per output row to 127 levels of its
largest magnitude; the module's own weight then holds the rounded values, so prompts (many rows, ``F.linear``),
hooks on the projections and single-row decoding (``torch.ops.aten._weight_int8pack_mm``, reading 1 byte per
weight) compute the same model. The embedding and the lm_head stay in the model's dtype.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import cast

import torch
from torch import nn

from desktop_sae.core.support.results_file import cpu_name

from ...support import int4_groups
from ...support.row_kernels import KERNELS, RowKernel, RowWeight, _onednn_available
from .llama import LiteDecoderLayer, LlamaLiteForCausalLM
from .projections import Proj, _Fused

KERNEL_ENV = "DESKTOP_SAE_ROW_KERNEL"


def row_weights(model: LlamaLiteForCausalLM) -> list[tuple[Proj | _Fused, str]]:
    """(module, attribute) of every weight one decoding step multiplies a row by, in the order it reads them."""
    out: list[tuple[Proj | _Fused, str]] = []
    for layer in cast("Iterable[LiteDecoderLayer]", model.model.layers):  # the ModuleList holds only these
        a, m = layer.self_attn, layer.mlp
        out += [(a, "fused"), (a.o_proj, "weight"), (m, "fused"), (m.down_proj, "weight")]
    out.append((model.lm_head, "weight"))
    return out


def _weight(mod: nn.Module, attr: str) -> torch.Tensor:
    w = getattr(mod, attr)
    return w.data if isinstance(w, torch.nn.Parameter) else w


def install(model: LlamaLiteForCausalLM, kind: str) -> None:
    """Give every decoding weight a :class:`RowWeight` of ``kind`` (int8/int4 weights keep theirs)."""
    for mod, attr in row_weights(model):
        old = getattr(mod, "row", None)
        if old is not None and old.kind in (RowKernel.INT8, RowKernel.INT4) and old.fresh(_weight(mod, attr)):
            continue
        mod.row = RowWeight(_weight(mod, attr), kind)
    model.row_kernel = kind


def _time_pass(rows: list[RowWeight], xs: dict[int, torch.Tensor]) -> float:
    t = time.perf_counter()
    for r in rows:
        r(xs[r.weight.shape[1]])
    return time.perf_counter() - t


def measure_kernels(model: LlamaLiteForCausalLM, kinds: Sequence[str] = KERNELS, rounds: int = 3) -> dict[str, float]:
    """Seconds per pass over all the decoding weights for each kernel (best of ``rounds``, interleaved)."""
    weights = [_weight(m, a) for m, a in row_weights(model)]
    xs = {w.shape[1]: torch.randn(1, w.shape[1]).to(w.dtype) for w in weights}
    cands: dict[str, list[RowWeight]] = {}
    for k in kinds:
        if k == "onednn" and not _onednn_available():
            continue
        try:
            cands[k] = [RowWeight(w, k) for w in weights]
            _time_pass(cands[k], xs)  # warm-up: primitive creation, page faults of the packed copy
        except RuntimeError:  # this build or CPU cannot run the kernel in this dtype
            cands.pop(k, None)
    best = {k: float("inf") for k in cands}
    for _ in range(rounds):
        for k, rows in cands.items():
            best[k] = min(best[k], _time_pass(rows, xs))
    return best


def _cache_key(model: LlamaLiteForCausalLM) -> str:
    shapes = sorted({tuple(_weight(m, a).shape) for m, a in row_weights(model)})
    return f"{cpu_name()}|torch {torch.__version__}|{model.dtype}|{torch.get_num_threads()} threads|{shapes}"


def choose_kernel(model: LlamaLiteForCausalLM, cache_file: Path | None = None) -> str:
    """Pick and install the fastest single-row kernel for this CPU (or ``$DESKTOP_SAE_ROW_KERNEL``)."""
    forced = os.environ.get(KERNEL_ENV, "").strip().lower()
    if model.device.type != "cpu":
        kind = "linear"
    elif forced in KERNELS:
        kind = forced if forced != "onednn" or _onednn_available() else "linear"
    else:
        key, known = _cache_key(model), {}
        if cache_file is not None:
            try:
                known = json.loads(open(cache_file).read())
            except (OSError, ValueError):
                known = {}
        kind = known.get(key, "") if isinstance(known, dict) else ""  # "": none remembered
        if kind not in KERNELS:
            times = measure_kernels(model)
            kind = min(times, key=times.__getitem__) if times else "linear"
            if cache_file is not None:
                from ...support.atomic import atomic_write_text

                known = known if isinstance(known, dict) else {}
                try:
                    atomic_write_text(cache_file, json.dumps({**known, key: kind}, indent=1))
                except OSError:
                    pass  # a read-only cache folder only costs the timing next time
    install(model, kind)
    return kind


def quantize_int8(model: LlamaLiteForCausalLM) -> None:
    """Round every decoder projection to per-row int8 in place (bfloat16/float16 models on the CPU)."""
    if model.dtype not in (torch.bfloat16, torch.float16) or model.device.type != "cpu":
        raise ValueError("int8 weights need a bfloat16 or float16 model on the CPU")
    for mod, attr in row_weights(model)[:-1]:  # not the lm_head: it is the (tied) embedding
        w = _weight(mod, attr)
        scale = (w.float().abs().amax(dim=1).clamp_min(1e-12) / 127).to(w.dtype)  # the kernel's own scales
        q = torch.round(w.float() / scale.float()[:, None]).clamp_(-127, 127).to(torch.int8)
        w.copy_((q.float() * scale.float()[:, None]).to(w.dtype))  # in place: the q/k/v and gate/up views follow
        mod.row = RowWeight(w, RowKernel.INT8, q, scale)
    model.weights_int8 = True


def quantize_int4(model: LlamaLiteForCausalLM, lm_head: bool = True) -> None:
    """Hold every decoder projection in 4 bits per weight, Q4_1's layout (core/support/int4_groups.py), in place:
    the module's weight then holds the values the codes stand for, so prompts and hooks compute the same model.
    ``lm_head``: the lm_head in 8-bit groups, Q8_0's layout, read by the same kernel (its own copy: the input
    embedding it may be tied to keeps its values). In 4 bits it moved the next-token distribution far more than all
    the layers together (docs/DECODING.md)."""
    if model.dtype != torch.bfloat16 or model.device.type != "cpu":
        raise ValueError("4-bit weights need a bfloat16 model on the CPU")
    targets = row_weights(model)
    bad = [tuple(_weight(m, a).shape) for m, a in targets if not int4_groups.supported(_weight(m, a))]
    if bad:
        raise ValueError(f"4-bit weights need rows in groups of {int4_groups.GROUP}; these shapes are not: {bad[:3]}")
    for mod, attr in targets[:-1]:
        w = _weight(mod, attr)
        q4 = int4_groups.quantize(w)
        w.copy_(q4.values)  # in place: the q/k/v and gate/up views follow
        mod.row = RowWeight(w, RowKernel.INT4, q4)
    if lm_head:
        head = model.lm_head
        q8 = int4_groups.quantize_8bit(_weight(head, "weight"))
        head.weight = torch.nn.Parameter(q8.values, requires_grad=False)
        head.row = RowWeight(head.weight.data, RowKernel.INT4, q8)
    model.weights_int4 = True
