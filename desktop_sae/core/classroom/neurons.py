"""MLP neurons, the black box that SAEs open: a neuron's activations over a text set, its top-activating contexts,
how many unrelated topics they span (polysemanticity), and which SAE features fire on the same tokens.

A neuron of layer L is one coordinate of the input to the MLP's down projection: ``act(gate(x)) * up(x)`` in
Llama-family models (``down_proj``), ``act(c_fc(x))`` in GPT-2 (``c_proj``), ``act(dense_h_to_4h(x))`` in
GPT-NeoX (``dense_4h_to_h``). It is captured with a forward pre-hook that is always removed. No Qt.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast, overload

import numpy as np
import torch
from torch import nn

from ..engine.chat_prompt import text_ids
from ..engine.hooks import StopForward, capture, decoder_layers, layout_of
from ..support.errors import Cancelled, HookPointError

if TYPE_CHECKING:
    from torch.utils.hooks import RemovableHandle

    from ..engine.session import Session

# ``tokenizer`` is a transformers tokenizer (or the lite engine's): typed Any, it has no useful static type.

Progress = Callable[[float | None, str], None]


@dataclass(frozen=True)
class NeuronContext:
    """One text where a neuron fires: the tokens around its peak and the neuron's value on each of them."""

    text_index: int
    topic: str
    tokens: tuple[str, ...]  # a window of the text's tokens (BOS left out)
    values: tuple[float, ...]  # the neuron's activation on each token of the window
    peak: float  # the neuron's largest activation in the text
    peak_index: int  # where the peak is inside ``tokens``
    position: int  # where the peak is in the text's token ids (BOS = 0)
    ids: tuple[int, ...]  # the text's ids up to and including the peak token (to encode it with an SAE)


@dataclass(frozen=True)
class FeatureAtPeaks:
    """An SAE feature active on the peak tokens of some of a neuron's contexts."""

    feature: int
    label: str
    count: int  # how many of the contexts it fires on
    mean_activation: float  # over those contexts
    contexts: tuple[int, ...]  # their indices in the contexts given
    topics: tuple[str, ...]  # the topics of those contexts, in order, repeats removed


def mlp_width(model: nn.Module) -> int:
    """The number of neurons in each MLP layer."""
    mod = _down_proj(model, 0)
    weight = cast(torch.Tensor, mod.weight)  # a parameter of the projection, not a sub-module
    return int(getattr(mod, "in_features", 0) or weight.shape[0])  # nn.Linear, or GPT-2's Conv1D [in, out]


def _down_proj(model: nn.Module, layer: int) -> nn.Module:
    layers = decoder_layers(model)
    if not 0 <= layer < len(layers):
        raise HookPointError(f"MLP layer {layer} is out of range, the model has layers 0..{len(layers) - 1}")
    lay = layout_of(model)
    mlp = getattr(layers[layer], lay.mlp_attr, None)
    mod = getattr(mlp, lay.down_proj, None)
    if mod is None:
        raise HookPointError(f"layer {layer}'s MLP has no {lay.down_proj} in this {lay.family} model")
    return mod


@contextlib.contextmanager
def mlp_capture(model: nn.Module, layers: Sequence[int], stop: bool = True) -> Iterator[dict[int, torch.Tensor]]:
    """Record the MLP neurons' activations [batch, seq, width] of ``layers`` during a forward pass inside the
    block; with ``stop`` the pass ends (StopForward, caught here) once the last of them ran. Hooks are removed in
    ``finally``."""
    store: dict[int, torch.Tensor] = {}
    last = max(layers)
    handles: list[RemovableHandle] = []

    def hook(layer: int) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], None]:
        def pre(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            store[layer] = args[0].detach()
            if stop and layer == last:
                raise StopForward

        return pre

    try:
        for layer in layers:
            handles.append(_down_proj(model, layer).register_forward_pre_hook(hook(layer)))
        with contextlib.suppress(StopForward):
            yield store
    finally:
        for h in handles:
            h.remove()


@dataclass(frozen=True, eq=False)
class NeuronActivations:
    """Every neuron of one MLP layer on every token of a text set (BOS included, float16 [tokens, width])."""

    layer: int
    values: np.ndarray  # [total tokens, width], the texts one after another
    offsets: np.ndarray  # [texts + 1]: text i is rows offsets[i]:offsets[i + 1]
    ids: tuple[tuple[int, ...], ...]
    tokens: tuple[tuple[str, ...], ...]  # token strings per text
    ordinary: np.ndarray  # [total tokens] bool: not BOS / special (peaks are only searched there)
    topics: tuple[str, ...]

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    def text_peaks(self) -> np.ndarray:
        """[texts, width] float32: each neuron's largest activation on each text's ordinary tokens."""
        v = np.where(self.ordinary[:, None], self.values.astype(np.float32), -np.inf)
        return np.maximum.reduceat(v, self.offsets[:-1], axis=0)

    def top_contexts(self, neuron: int, k: int = 10, before: int = 16, after: int = 6) -> tuple[NeuronContext, ...]:
        """The ``k`` texts where ``neuron`` peaks highest (one context per text, positive peaks only), strongest
        first, each as a window of ``before`` tokens before the peak and ``after`` after it."""
        if not 0 <= neuron < self.width:
            raise ValueError(f"neuron {neuron} does not exist: layer {self.layer} has neurons 0..{self.width - 1}")
        col = np.where(self.ordinary, self.values[:, neuron].astype(np.float32), -np.inf)
        peaks = np.maximum.reduceat(col, self.offsets[:-1])
        order = [int(i) for i in np.argsort(-peaks, kind="stable")[:k] if peaks[i] > 0]
        out = []
        for i in order:
            a, b = int(self.offsets[i]), int(self.offsets[i + 1])
            pos = int(np.argmax(col[a:b]))
            first = next((j for j in range(b - a) if self.ordinary[a + j]), 0)
            lo, hi = max(first, pos - before), min(b - a, pos + after + 1)
            vals = self.values[a + lo : a + hi, neuron].astype(np.float32)
            out.append(
                NeuronContext(
                    i,
                    self.topics[i],
                    self.tokens[i][lo:hi],
                    tuple(round(float(x), 3) for x in vals),
                    round(float(peaks[i]), 3),
                    pos - lo,
                    pos,
                    self.ids[i][: pos + 1],
                )
            )
        return tuple(out)


def polysemanticity(contexts: Sequence[NeuronContext]) -> int:
    """The number of distinct topics among a neuron's contexts."""
    return len({c.topic for c in contexts})


def score_neurons(acts: NeuronActivations, k: int = 10, peaks: np.ndarray | None = None) -> np.ndarray:
    """[width] int: for every neuron, the number of distinct topics among its top-``k`` texts (positive peaks)."""
    peaks = acts.text_peaks() if peaks is None else peaks
    names = sorted(set(acts.topics))
    topic_id = np.array([names.index(t) for t in acts.topics])
    top = np.argsort(-peaks, axis=0, kind="stable")[:k]  # [k, width] text indices
    positive = np.take_along_axis(peaks, top, axis=0) > 0
    onehot = np.zeros((len(names), peaks.shape[1]), bool)
    cols = np.broadcast_to(np.arange(peaks.shape[1]), top.shape)
    onehot[topic_id[top][positive], cols[positive]] = True
    return onehot.sum(0)


@overload
def neuron_activations(
    model: nn.Module, tokenizer: Any, texts: Sequence[str], layer: int, *, topics: Sequence[str] | None = None,
    batch_size: int = 16, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
) -> NeuronActivations: ...


@overload
def neuron_activations(
    model: nn.Module, tokenizer: Any, texts: Sequence[str], layer: Sequence[int], *,
    topics: Sequence[str] | None = None, batch_size: int = 16, progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> dict[int, NeuronActivations]: ...


@torch.inference_mode()
def neuron_activations(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    layer: int | Sequence[int],
    *,
    topics: Sequence[str] | None = None,
    batch_size: int = 16,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> NeuronActivations | dict[int, NeuronActivations]:
    """Run ``texts`` (plain text, BOS prepended) through the model batch by batch up to ``layer``'s MLP and keep its
    neurons' activations: a ``NeuronActivations``, or a {layer: NeuronActivations} dict when ``layer`` is a list.
    ``progress(fraction, message)`` after each batch; ``cancelled()`` before each raises ``Cancelled``."""
    layers = [layer] if isinstance(layer, int) else list(layer)
    topics = tuple(topics) if topics is not None else ("",) * len(texts)
    if len(topics) != len(texts):
        raise ValueError("give one topic per text")
    ids = [tuple(text_ids(tokenizer, t)) for t in texts]
    special = set(int(i) for i in (tokenizer.all_special_ids or []))
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    chunks: dict[int, list[np.ndarray | None]] = {L: [None] * len(texts) for L in layers}
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))  # similar lengths together: little padding
    for s in range(0, len(order), batch_size):
        if cancelled is not None and cancelled():
            raise Cancelled("computing the neuron activations was cancelled")
        batch = order[s : s + batch_size]
        n = max(len(ids[i]) for i in batch)
        x = torch.full((len(batch), n), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), n), dtype=torch.long)
        for r, i in enumerate(batch):
            x[r, : len(ids[i])] = torch.tensor(ids[i])
            mask[r, : len(ids[i])] = 1
        with mlp_capture(model, layers) as store:
            model(input_ids=x.to(device), attention_mask=mask.to(device))
        for L in layers:
            a = store[L].float().clamp(-65000, 65000).to(torch.float16).cpu().numpy()
            for r, i in enumerate(batch):
                chunks[L][i] = a[r, : len(ids[i])]
        if progress is not None:
            done = min(s + batch_size, len(order))
            progress(done / len(order), f"layer {layers[-1]} neurons: {done} of {len(order)} texts")
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in ids])]).astype(np.int64)
    ordinary = np.array([t not in special for seq in ids for t in seq], dtype=bool)
    strs = tuple(tuple(tokenizer.decode([t]) for t in seq) for seq in ids)
    out: dict[int, NeuronActivations] = {}
    for L in layers:
        values = np.concatenate(cast(list[np.ndarray], chunks[L]), axis=0)  # the loop above filled every slot
        values.setflags(write=False)
        out[L] = NeuronActivations(L, values, offsets, tuple(ids), strs, ordinary, topics)
    return out[layer] if isinstance(layer, int) else out


@torch.inference_mode()
def hook_activations(
    session: Session, id_seqs: Sequence[Sequence[int]], batch_size: int = 16,
    cancelled: Callable[[], bool] | None = None,
) -> list[torch.Tensor]:
    """The residual at the session's SAE hook for each id sequence ([len, d] each), batch by batch (right-padded;
    the model is causal, so padding after a sequence does not change it)."""
    out: list[torch.Tensor] = []
    pad = session.lm.tokenizer.pad_token_id or 0
    for s in range(0, len(id_seqs), batch_size):
        if cancelled is not None and cancelled():
            raise Cancelled("reading the residual stream was cancelled")
        batch = [list(q) for q in id_seqs[s : s + batch_size]]
        n = max(len(q) for q in batch)
        x = torch.tensor([q + [pad] * (n - len(q)) for q in batch], device=session.lm.device)
        mask = torch.tensor([[1] * len(q) + [0] * (n - len(q)) for q in batch], device=session.lm.device)
        assert session.hook_name is not None  # the session has an SAE attached
        res = capture(session.lm.model, session.hook_name, stop=True, input_ids=x, attention_mask=mask)
        out += [res[r, : len(q)] for r, q in enumerate(batch)]
    return out


@torch.inference_mode()
def features_at(
    session: Session,
    contexts: Sequence[NeuronContext],
    *,
    top_per_context: int = 5,
    labels: Callable[[int], str] | None = None,
    max_density: float | None = 0.1,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[FeatureAtPeaks, ...]:
    """The SAE features active on each context's peak token (the residual at the SAE's own hook, encoded), the
    ``top_per_context`` strongest of each, aggregated per feature: most contexts first, then strongest.
    Features denser than ``max_density`` (from the SAE's statistics, when it has them) are left out: they fire
    almost everywhere. ``labels(f)`` names them; by default the dictionary beside the SAE."""
    from ..features.readout import _checked_sae, load_dictionary

    sae = _checked_sae(session)
    if labels is None:
        dic = load_dictionary(sae.source_path)
        labels = (lambda f: dic.labels[f]) if dic is not None else (lambda f: "")
    dense = np.zeros(sae.cfg.d_sae, bool)
    stats = getattr(sae, "stats", None)
    if max_density is not None and stats is not None and stats.density is not None:
        dense = np.nan_to_num(np.asarray(stats.density, np.float32), nan=0.0) > max_density
    hits: dict[int, list[tuple[int, float]]] = {}
    peaks = [x[-1] for x in hook_activations(session, [c.ids for c in contexts], cancelled=cancelled)]
    codes = sae.encode(torch.stack(peaks)).float().cpu().numpy() if peaks else np.zeros((0, sae.cfg.d_sae))
    for ci, acts in enumerate(codes):
        active = [int(f) for f in np.argsort(-acts, kind="stable") if acts[f] > 0 and not dense[f]]
        for f in active[:top_per_context]:
            hits.setdefault(f, []).append((ci, float(acts[f])))
    out = []
    for f, hs in hits.items():
        idx = tuple(ci for ci, _ in hs)
        topics = tuple(dict.fromkeys(contexts[ci].topic for ci in idx))
        out.append(FeatureAtPeaks(f, labels(f), len(hs), round(float(np.mean([v for _, v in hs])), 3), idx, topics))
    return tuple(sorted(out, key=lambda h: (-h.count, -h.mean_activation, h.feature)))


def select_features(feats: Sequence[FeatureAtPeaks], n_contexts: int, limit: int = 12) -> list[FeatureAtPeaks]:
    """The features worth showing beside a neuron: those shared by 2+ contexts (most shared first), then for each
    context none of them explains, its strongest own feature, up to ``limit``."""
    keep = [h for h in feats if h.count >= 2][: max(0, limit - 2)]
    covered = {c for h in keep for c in h.contexts}
    for ci in range(n_contexts):
        if ci not in covered and len(keep) < limit:
            best = max((h for h in feats if ci in h.contexts), key=lambda h: h.mean_activation, default=None)
            if best is not None and best not in keep:
                keep.append(best)
                covered.update(best.contexts)
    return keep
