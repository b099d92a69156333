"""Our steering, sampling, chat and answers as a Neuronpedia steer-chat request with its saved outputs
(docs/NEURONPEDIA.md). The read side is ``core.interop.neuronpedia_read``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ..presets.file_format import Preset, preset_to_dict
from ..steering.strength import resolve_strength
from ..support.errors import NeuronpediaError
from .neuronpedia_ids import (
    DEFAULT_METHOD,
    DEFAULT_SEED,
    EXTRA,
    METHODS,
    OUTPUT_TYPES,
    THEIR_LIMITS,
    Target,
    model_id,
    neuronpedia_method,
    snapshot,
    source_id,
)

if TYPE_CHECKING:
    import numpy as np

    from ..steering.specs import SteerSpec


def _fail(msg: str) -> NoReturn:
    raise NeuronpediaError(msg)


def to_neuronpedia(preset: Preset, target: Target, messages: Sequence[tuple[str, str]] = (),
                   outputs: Mapping[str, str] | None = None,
                   max_activation: np.ndarray | None = None) -> tuple[dict[str, Any], list[str]]:
    """Our settings (+ the chat before the answer, + saved answers) as a Neuronpedia steer-chat request with its
    outputs; returns (document, notes on what Neuronpedia would refuse). Raises NeuronpediaError for steering it
    cannot express: clamp, or several methods at once."""
    st, notes = preset.steering, []
    active = st.active
    for s in active:
        if neuronpedia_method(s.method) is None:
            _fail(f"feature {s.feature} is steered with {s.method}, which Neuronpedia has no steer_method for "
                  f"(it has {', '.join(METHODS)}); use add or orth")
    ids = [s.feature for s in active]
    if len(set(ids)) != len(ids):
        _fail(f"feature {next(f for f in ids if ids.count(f) > 1)} is steered twice; Neuronpedia lists each once")
    methods = sorted({s.method for s in active})
    if len(methods) > 1:
        _fail(f"Neuronpedia applies one steer_method to every feature; this steering mixes {' and '.join(methods)}")
    method = methods[0] if methods else METHODS[DEFAULT_METHOD]
    src = source_id(target.sae, target.neuronpedia_id) if target.sae is not None else ""
    if active and not src:
        _fail("the steered features need an SAE at a blocks.<layer>.hook_* point to name them on Neuronpedia")
    mid = model_id(target.model, target.neuronpedia_id)

    def coef(s: SteerSpec, m: float) -> float:
        mx = None if max_activation is None else float(max_activation[s.feature])
        return float(resolve_strength(s, m, mx, None, None).coefficient)

    m = st.multiplier
    if method == "orth":
        strengths, mult = [coef(s, m) for s in active], 1.0
    elif THEIR_LIMITS["strength_multiplier"][0] <= m <= THEIR_LIMITS["strength_multiplier"][1]:
        strengths, mult = [coef(s, 1.0) for s in active], m
    else:
        strengths, mult = [coef(s, 1.0) * m for s in active], 1.0
        notes.append(f"the multiplier {m:g} is outside Neuronpedia's 0..10, so it was folded into each strength")
    feats = [(src, s.feature, v, s.label) for s, v in zip(active, strengths, strict=True)]
    sp = preset.sampling
    seed = sp.seed
    if seed is None:
        seed = DEFAULT_SEED
        notes.append(f"the seed is random here; Neuronpedia needs one, so {seed} was written")
    doc: dict[str, Any] = {
        "modelId": mid,
        "features": [{"modelId": mid, "layer": f[0], "index": f[1], "strength": f[2],
                      **({"explanation": f[3]} if f[3] else {})} for f in feats],
        "strength_multiplier": mult, "steer_method": neuronpedia_method(method), "temperature": sp.temperature,
        "n_tokens": sp.max_new_tokens, "freq_penalty": sp.frequency_penalty, "seed": seed,
        "steer_special_tokens": not st.skip_special,
    }
    for key, (lo, hi) in THEIR_LIMITS.items():
        if not lo <= doc[key] <= hi:
            notes.append(f"{key} {doc[key]:g} is outside Neuronpedia's {lo:g}..{hi:g}; their site would refuse it")
    skipped = [s.feature for s in st.features if not s.enabled]
    if skipped:
        notes.append(f"switched-off features are left out of the Neuronpedia fields: {skipped}")
    if sp.top_p != 1 or sp.top_k or sp.repetition_penalty != 1:
        notes.append("top_p, top_k and repetition_penalty have no Neuronpedia field (kept in the desktopSae block)")
    chat = ([("system", preset.system)] if preset.system else []) + [tuple(x) for x in messages]
    if chat:
        doc["defaultChatMessages"] = doc["steeredChatMessages"] = [{"role": r, "content": c} for r, c in chat]
    outputs = {k: v for k, v in (outputs or {}).items() if k in OUTPUT_TYPES and v is not None}
    doc["types"] = [t for t in OUTPUT_TYPES if t in outputs] or list(OUTPUT_TYPES)
    doc.update({t: outputs[t] for t in OUTPUT_TYPES if t in outputs})
    doc[EXTRA] = {"version": 1, "preset": preset_to_dict(preset),
                  "neuronpedia": snapshot(mid, feats, mult, doc["steer_method"], sp.temperature, sp.max_new_tokens,
                                           sp.frequency_penalty, seed, not st.skip_special)}
    return doc, notes


def neuronpedia_json(doc: dict) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
