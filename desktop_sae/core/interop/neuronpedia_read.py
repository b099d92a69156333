"""Neuronpedia steering requests and saved outputs, in and out (docs/NEURONPEDIA.md).

``parse_neuronpedia`` reads their JSON (``/api/steer`` and ``/api/steer-chat`` requests, the inference server's
field names, saved outputs) into our ``Preset`` (steering, sampling, system prompt), the prompt and the saved texts,
and checks it against the model and SAE we have; it raises ``NeuronpediaError`` and returns nothing half-made.
``to_neuronpedia`` writes ours in their fields, plus a ``desktopSae`` block that brings it back exactly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ..assets.sae_neuronpedia import config_neuronpedia_id
from ..engine.sampling import SamplingConfig
from ..presets.file_format import MAX_FEATURES, MAX_NAME, Preset, SAEIdentity, parse_preset
from ..presets.identity import check_preset
from ..steering.specs import METHODS as OUR_METHODS
from ..steering.specs import SteeringConfig, SteerSpec
from ..support.errors import NeuronpediaError, PresetError
from ..support.file_values import is_finite
from ..support.file_values import quote as _show
from .neuronpedia_ids import (
    DEFAULTS,
    EXTRA,
    METHODS,
    OUTPUT_TYPES,
    UNSUPPORTED,
    Target,
    model_id,
    same_model,
    snapshot,
    source_problem,
)
from .neuronpedia_write import neuronpedia_json, to_neuronpedia

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Imported", "Target", "neuronpedia_json", "parse_neuronpedia", "to_neuronpedia"]

MAX_BYTES, MAX_TEXT, MAX_SYSTEM, MAX_MESSAGES = 5_000_000, 100_000, 10_000, 200
# the ranges we accept: those of our presets, so an import can be saved as one (Neuronpedia's own are narrower)
RANGES = {"temperature": (0, 100), "freq_penalty": (-100, 100), "strength_multiplier": (-100, 100),
          "n_tokens": (0, 100_000), "seed": (0, 2**63 - 1), "strength": (-1e6, 1e6), "their_strength": (-1e15, 1e15)}
ALIASES = {"model": "modelId", "n_completion_tokens": "n_tokens", "default_chat_messages": "defaultChatMessages",
           "steered_chat_messages": "steeredChatMessages", "steerMethod": "steer_method"}
FEATURE_ALIASES = {"model": "modelId", "source": "layer"}
KNOWN = {"prompt", "modelId", "features", "strength_multiplier", "temperature", "n_tokens", "freq_penalty", "seed",
         "steer_method", "steer_special_tokens", "defaultChatMessages", "steeredChatMessages", "types", "outputs",
         "STEERED", "DEFAULT", "name", "normalize_steering", "vectors", EXTRA}
QUIET = {"id", "shareUrl", "limit", "steeredLogProbs", "defaultLogProbs", "stream", "n_logprobs", "logprobs",
         "version", "createdAt", "connectedDefaultOutputId", "input"}  # saved-output bookkeeping, not settings
ROLES = {"system": "system", "user": "user", "assistant": "assistant", "model": "assistant"}


@dataclass(frozen=True)
class Imported:
    preset: Preset  # steering, sampling and system prompt (None: the file has no chat, leave ours)
    prompt: str  # the message to answer ("" if none)
    history: tuple[tuple[str, str], ...] = ()  # earlier chat messages (role, content) before the prompt
    outputs: Mapping[str, str] = field(default_factory=dict)  # saved answers: "STEERED" / "DEFAULT" -> text
    types: tuple[str, ...] = OUTPUT_TYPES  # the runs the request asks for
    notes: tuple[str, ...] = ()  # defaults used, fields ignored
    restored: bool = False  # our exact settings came back from the desktopSae block


def _fail(msg: str) -> NoReturn:
    raise NeuronpediaError(msg)


def _number(v: object, what: str, key: str) -> float:
    lo, hi = RANGES[key]
    if not is_finite(v) or not lo <= v <= hi:
        _fail(f"{what} must be a number in [{lo:g}, {hi:g}], got {_show(v)}")
    return v


def _whole(v: object, what: str, key: str) -> int:
    lo, hi = RANGES[key]
    if isinstance(v, float) and is_finite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        _fail(f"{what} must be a whole number in [{lo}, {hi}], got {_show(v)}")
    return v


def _text(v: object, what: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(v, str) or len(v) > limit:
        _fail(f"{what} must be a text of at most {limit} characters, got {_show(v)}")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        _fail(f"{what} holds an invalid character (a lone UTF-16 surrogate)")
    return v


def _canonical(d: dict[str, object], aliases: dict[str, str], what: str) -> dict[str, object]:
    out = dict(d)
    for alias, key in aliases.items():
        if alias in out:
            v = out.pop(alias)
            if key in out and out[key] != v:
                _fail(f"{what} gives both {key!r} and {alias!r}, with different values")
            out[key] = v
    return out


def _load(text: str | bytes, where: str) -> dict[str, object]:
    if len(text) > MAX_BYTES:
        _fail(f"{where} is too large for a steering request ({len(text)} bytes; at most {MAX_BYTES})")
    try:
        d = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        _fail(f"{where} is not valid JSON: {e}")
    except RecursionError:
        _fail(f"{where} is nested too deeply to be a steering request")
    if not isinstance(d, dict):
        _fail(f"{where} must hold a JSON object, not {type(d).__name__}")
    return _canonical(d, ALIASES, where)


def _index(v: object, what: str) -> int:
    if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) < 12:
        v = int(v)  # Neuronpedia's database keeps feature indices as texts
    if isinstance(v, float) and is_finite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        _fail(f"{what}.index must be a whole number >= 0, got {_show(v)}")
    return v


def _features(d: dict[str, object], target: Target, where: str,
              same_weights: bool) -> list[tuple[str, int, float, str]]:
    raw = d.get("features") or []
    if not isinstance(raw, list) or len(raw) > MAX_FEATURES:
        _fail(f"{where}: \"features\" must be a list of at most {MAX_FEATURES} entries")
    out: list[tuple[str, int, float, str]] = []
    seen: set[int] = set()
    for i, f in enumerate(raw):
        w = f"{where}: features[{i}]"
        if not isinstance(f, dict):
            _fail(f"{w} must be an object with modelId, layer, index and strength")
        f = _canonical(f, FEATURE_ALIASES, w)
        if f.get("hasVector") is True or f.get("steeringVector") not in (None, []):
            _fail(f"{w} is a custom steering vector; only SAE features can be imported")
        fmodel = _text(f.get("modelId", d.get("modelId")), f"{w}.modelId", 300)
        if not same_model(fmodel, target.model, target.neuronpedia_id):
            _fail(f"{w} is a feature of model {fmodel!r}; the loaded model is {target.model} "
                  f"(Neuronpedia id {model_id(target.model, target.neuronpedia_id)!r})")
        layer = _text(f.get("layer"), f"{w}.layer", 300)
        problem = source_problem(layer, target.sae, target.neuronpedia_id, same_weights)
        if problem:
            _fail(f"{w}: {problem}")
        index = _index(f.get("index"), w)
        assert target.sae is not None  # source_problem refused a file when no SAE is loaded
        if index >= target.sae.d_sae:
            _fail(f"{w}: feature {index} does not exist (the loaded SAE has 0..{target.sae.d_sae - 1})")
        if index in seen:
            _fail(f"{w}: feature {index} is listed twice")
        seen.add(index)
        strength = _number(f.get("strength"), f"{w}.strength", "their_strength")
        label = _text(f.get("explanation", ""), f"{w}.explanation", 300) if f.get("explanation") is not None else ""
        out.append((layer, index, strength, label))
    return out


def _messages(d: dict[str, object], where: str) -> tuple[list[tuple[str, str]] | None, str | None]:
    """(chat messages or None, plain prompt or None)."""
    chats = [k for k in ("steeredChatMessages", "defaultChatMessages") if d.get(k) is not None]
    prompt = d.get("prompt")
    if prompt is not None and chats:
        _fail(f"{where} gives both a prompt and chat messages; a request has one or the other")
    if prompt is not None:
        return None, _text(prompt, f"{where}: prompt")
    if not chats:
        return None, None
    lists: dict[str, list[tuple[str, str]]] = {}
    for key in chats:
        raw = d[key]
        if not isinstance(raw, list) or len(raw) > MAX_MESSAGES:
            _fail(f"{where}: {key} must be a list of at most {MAX_MESSAGES} messages")
        msgs: list[tuple[str, str]] = []
        for i, m in enumerate(raw):
            w = f"{where}: {key}[{i}]"
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or m["role"] not in ROLES:
                _fail(f"{w} must be an object with a role ({', '.join(ROLES)}) and a content text")
            role = ROLES[m["role"]]
            content = _text(m.get("content"), f"{w}.content", MAX_SYSTEM if role == "system" else MAX_TEXT)
            if role == "system" and i:
                _fail(f"{w}: only the first message may be the system prompt")
            msgs.append((role, content))
        if msgs and msgs[-1][0] == "assistant":
            _fail(f"{where}: {key} must end with the user's message (the prompt to answer), not an answer")
        lists[key] = msgs
    return lists[chats[0]], None


def _outputs(d: dict[str, object], where: str) -> tuple[dict[str, str], tuple[str, ...]]:
    found: dict[str, str] = {}

    def put(kind: str, value: object, w: str) -> None:
        if isinstance(value, dict):  # a steer-chat output: {raw, chatTemplate}
            chat = value.get("chatTemplate")
            if isinstance(chat, list) and chat and isinstance(chat[-1], dict) and chat[-1].get("role") in (
                    "assistant", "model"):
                value = chat[-1].get("content")
            else:
                value = value.get("raw")
        if value is not None:
            found[kind] = _text(value, w)

    for kind in OUTPUT_TYPES:
        if d.get(kind) is not None:
            put(kind, d[kind], f"{where}: {kind}")
    outs = d.get("outputs")
    if outs is not None:
        if not isinstance(outs, list) or len(outs) > len(OUTPUT_TYPES):
            _fail(f"{where}: \"outputs\" must be a list of at most two {{type, output}} objects")
        for i, o in enumerate(outs):
            if not isinstance(o, dict) or o.get("type") not in OUTPUT_TYPES:
                _fail(f"{where}: outputs[{i}] must be an object with type STEERED or DEFAULT and its output")
            put(o["type"], o.get("output"), f"{where}: outputs[{i}].output")
    types = d.get("types", list(found) or list(OUTPUT_TYPES))
    if (not isinstance(types, list) or not 0 < len(types) <= 2 or len(set(map(str, types))) != len(types)
            or any(t not in OUTPUT_TYPES for t in types)):
        _fail(f"{where}: \"types\" must list STEERED and/or DEFAULT once each, got {_show(types)}")
    return found, tuple(types)


def _extra(d: dict[str, object], where: str) -> tuple[Preset | None, object]:
    ex = d.get(EXTRA)
    if ex is None:
        return None, None
    if not isinstance(ex, dict) or not isinstance(ex.get("preset"), dict):
        _fail(f"{where}: \"{EXTRA}\" must be an object holding a \"preset\" object")
    try:
        return parse_preset(json.dumps(ex["preset"]), f"{where}: {EXTRA}.preset"), ex.get("neuronpedia")
    except (RecursionError, ValueError):
        _fail(f"{where}: \"{EXTRA}.preset\" is not a preset")
    except PresetError as e:
        raise NeuronpediaError(str(e)) from None


def sae_neuronpedia_id(sae_path: str | Path | None) -> str:
    """The "model/source" Neuronpedia id in an SAE folder's config ("" if it has none or cannot be read)."""
    return config_neuronpedia_id(sae_path)


def parse_neuronpedia(text: str | bytes, target: Target, max_activation: np.ndarray | None = None,
                      where: str = "Neuronpedia JSON") -> Imported:
    """Read a Neuronpedia steering file into our settings, checked against ``target``; raises NeuronpediaError."""
    d = _load(text, where)
    notes: list[str] = []
    if d.get("vectors") not in (None, []):
        _fail(f"{where} steers with custom vectors; only SAE features can be imported")
    if d.get("normalize_steering") not in (None, False):
        _fail(f"{where} asks for normalize_steering, which this version does not do (it adds raw decoder rows)")
    ignored = sorted(str(k) for k in d if k not in KNOWN and k not in QUIET)
    if ignored:
        notes.append("ignored fields: " + ", ".join(_show(k) for k in ignored[:12]))
    mid = _text(d.get("modelId"), f"{where}: modelId", 300) if "modelId" in d else None
    if mid is None:
        _fail(f"{where} does not say which model it is for (no \"modelId\" or \"model\")")
    if not same_model(mid, target.model, target.neuronpedia_id):
        _fail(f"{where} is for model {mid!r}; the loaded model is {target.model} "
              f"(Neuronpedia id {model_id(target.model, target.neuronpedia_id)!r})")
    ours_ex, snap = _extra(d, where)
    fp = ours_ex.sae.fingerprint if ours_ex is not None else ""
    same_weights = bool(fp) and target.sae is not None and fp == target.sae.fingerprint
    feats = _features(d, target, where, same_weights)
    missing = [k for k in DEFAULTS if k not in d]
    if missing:
        notes.append("not given, Neuronpedia's defaults used: " + ", ".join(missing))
    v = {**DEFAULTS, **{k: d[k] for k in DEFAULTS if k in d}}
    method = v["steer_method"]
    if not isinstance(method, str) or method not in METHODS:
        _fail(f"{where}: unknown steer_method {_show(method)}; Neuronpedia's are {', '.join(METHODS)}")
    ours = METHODS[method]
    if ours not in OUR_METHODS:
        _fail(UNSUPPORTED.get(method, f"{method} steering is not supported by this version"))
    mult = _number(v["strength_multiplier"], f"{where}: strength_multiplier", "strength_multiplier")
    special = v["steer_special_tokens"]
    if not isinstance(special, bool):
        _fail(f"{where}: steer_special_tokens must be true or false, got {_show(special)}")
    seed = None if v["seed"] is None else _whole(v["seed"], f"{where}: seed", "seed")
    sampling = SamplingConfig(
        temperature=float(_number(v["temperature"], f"{where}: temperature", "temperature")),
        frequency_penalty=float(_number(v["freq_penalty"], f"{where}: freq_penalty", "freq_penalty")),
        seed=seed,
        max_new_tokens=_whole(v["n_tokens"], f"{where}: n_tokens", "n_tokens"),
    )
    chat, prompt = _messages(d, where)
    system: str | None = None
    history: tuple[tuple[str, str], ...] = ()
    if chat is not None:
        system = chat[0][1] if chat and chat[0][0] == "system" else ""
        body = chat[1:] if chat and chat[0][0] == "system" else chat
        prompt = body[-1][1] if body else ""
        history = tuple(body[:-1])
        if history:
            notes.append(f"{len(history)} earlier chat message(s) are kept in the import but not replayed")
    elif prompt is not None:
        notes.append("Neuronpedia continues a plain prompt without the chat template; here it is a chat message")
    outputs, types = _outputs(d, where)
    name = _text(d.get("name") or "", f"{where}: name", 1000).strip()[:MAX_NAME].strip() or "Neuronpedia import"
    restored = False
    if ours_ex is not None:
        mine = snapshot(mid, feats, mult, method, v["temperature"], v["n_tokens"], v["freq_penalty"], v["seed"],
                        special)
        try:
            restored = snap == mine
        except RecursionError:
            restored = False
        if not restored:
            notes.append(f"the {EXTRA} block does not match the Neuronpedia fields (edited?); those were used")
    if restored:
        assert ours_ex is not None  # only our own block restores settings
        keep = chat is None or (system or "") == (ours_ex.system or "")
        preset = replace(ours_ex, system=ours_ex.system if keep else system)
    else:
        fold = mult if ours == "orth" else 1.0  # their orthogonal gain is m × s; ours is 1 + m (c - 1): fold m in
        if fold != 1:
            notes.append("orthogonal gains are strength × strength_multiplier; the multiplier was folded in")
        specs = [SteerSpec(i, float(_number(s * fold, f"{where}: features[{k}].strength"
                                            + (" × strength_multiplier" if fold != 1 else ""), "strength")),
                           "raw", ours, True, lab) for k, (_, i, s, lab) in enumerate(feats)]
        steering = SteeringConfig(tuple(specs), 1.0 if fold != 1 else float(mult), not special)
        preset = Preset(name, steering, sampling, target.model, target.sae or SAEIdentity(), system,
                        f"Imported from Neuronpedia ({mid})")
    try:
        check_preset(preset, target.sae, max_activation)
    except NeuronpediaError:
        raise
    except PresetError as e:
        raise NeuronpediaError(str(e)) from None
    return Imported(preset, prompt or "", history, outputs, types, tuple(notes), restored)
