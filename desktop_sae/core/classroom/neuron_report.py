"""One MLP neuron of the loaded model, as the neuron view shows it: its top-activating contexts over a text set and
the SAE features that fire on the same peak tokens (``neurons.py`` computes both)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..engine.hooks import n_layers, parse_hook_name
from .neurons import (
    FeatureAtPeaks,
    NeuronActivations,
    NeuronContext,
    features_at,
    mlp_width,
    neuron_activations,
    select_features,
)

if TYPE_CHECKING:
    from ..engine.session import Session

CONTEXTS = 12  # contexts per neuron, as in the shipped view


@dataclass(frozen=True)
class NeuronReport:
    layer: int
    neuron: int
    contexts: tuple[NeuronContext, ...]
    features: tuple[FeatureAtPeaks, ...]
    model: str  # the model's name
    activations: NeuronActivations  # the whole layer over the text set: the next neuron of this layer reuses it


def report_layer(session: Session, layer: int | None) -> int:
    """The layer to read: ``layer`` when the model has it, else the SAE's hook layer, else the middle one."""
    model = session.lm.model
    if layer is not None and 0 <= layer < n_layers(model):
        return layer
    return parse_hook_name(session.hook_name).layer if session.hook_name else n_layers(model) // 2


def neuron_report(session: Session, neuron: int, layer: int | None, texts: Sequence[str], topics: Sequence[str],
                  activations: NeuronActivations | None = None,
                  progress: Callable[[float | None, str], None] = lambda f, m: None,
                  cancelled: Callable[[], bool] = lambda: False) -> NeuronReport:
    """Neuron ``neuron`` of ``layer`` (see ``report_layer``): its top contexts over ``texts`` and the SAE features
    on their peaks. ``activations`` of the same layer and session skip the pass over the texts."""
    model = session.lm.model
    layer = report_layer(session, layer)
    width = mlp_width(model)
    if not 0 <= neuron < width:
        raise ValueError(f"neuron {neuron} does not exist: layer {layer} of this model has neurons 0..{width - 1}")
    if activations is None:
        progress(0.0, f"running {len(texts)} texts through layer {layer}…")
        activations = neuron_activations(model, session.lm.tokenizer, list(texts), layer, topics=list(topics),
                                         progress=progress, cancelled=cancelled)
    contexts = activations.top_contexts(neuron, CONTEXTS)
    feats: tuple[FeatureAtPeaks, ...] = ()
    if session.sae is not None and contexts:
        progress(1.0, "encoding the peak tokens with the SAE…")
        found = features_at(session, contexts, top_per_context=3, labels=lambda f: "", cancelled=cancelled)
        feats = tuple(select_features(found, len(contexts)))
    return NeuronReport(layer, neuron, contexts, feats, session.lm.name, activations)
