"""The preset file: a versioned JSON object naming the model, the SAE, the steered features, the global multiplier
and the sampling settings. ``parse_preset`` validates the file itself (structure, types, ranges) and raises
``PresetError`` naming what is wrong; ``core.presets.identity.check_preset`` then checks it against the loaded SAE."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..engine.sampling import SamplingConfig
from ..steering.specs import UNITS, SteeringConfig, SteerSpec
from ..steering.syntax import METHOD_ALIASES
from ..support.errors import PresetError, SteeringError
from ..support.file_values import is_finite
from ..support.file_values import quote as _show

if TYPE_CHECKING:
    from .demo_concepts import DemoConcept

SCHEMA = "desktop-sae-preset"
SCHEMA_VERSION = 1
MAX_NAME = 80
MAX_FEATURES = 64
MAX_VECTOR_DIM = 1 << 16
_SAMPLING_KEYS = {f: type(getattr(SamplingConfig(), f)) for f in SamplingConfig.__dataclass_fields__}


@dataclass(frozen=True)
class SAEIdentity:
    """What a preset records about its SAE. ``fingerprint`` is a hash of a few decoder rows (may be empty)."""

    name: str = ""
    d_sae: int = 0
    hook: str = ""
    fingerprint: str = ""

    def describe(self) -> str:
        return f"{self.name or 'unnamed SAE'} ({self.d_sae} features at {self.hook or '?'})"


@dataclass(frozen=True)
class Preset:
    name: str
    steering: SteeringConfig
    sampling: SamplingConfig = SamplingConfig()
    model: str = ""
    sae: SAEIdentity = SAEIdentity()
    system: str | None = None
    description: str = ""
    demo_refs: dict[int, str] = field(default_factory=dict)  # feature position -> demo concept (built-ins)


# --- JSON <-> Preset -----------------------------------------------------------------------------------------
def preset_to_dict(p: Preset) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "name": p.name,
        "description": p.description,
        "model": p.model,
        "sae": asdict(p.sae),
        "steering": {
            "multiplier": p.steering.multiplier,
            "skip_special": p.steering.skip_special,
            "features": [
                {"id": s.feature, "label": s.label, "strength": s.strength, "unit": s.unit, "method": s.method,
                 "enabled": s.enabled, **({"vector": list(s.vector)} if s.vector is not None else {}),
                 **({"when": {"feature": s.when[0], "above": s.when[1], "unit": s.when_unit}} if s.when else {})}
                for s in p.steering.features
            ],
        },
        "sampling": asdict(p.sampling),
        "system": p.system,
    }


def preset_to_json(p: Preset) -> str:
    return json.dumps(preset_to_dict(p), indent=2, ensure_ascii=False) + "\n"


def _num(v: object, what: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if not is_finite(v) or not lo <= v <= hi:
        rng = f" in [{lo:g}, {hi:g}]" if math.isfinite(lo) or math.isfinite(hi) else ""
        raise PresetError(f"{what} must be a finite number{rng}, got {_show(v)}")
    return float(v)


def _str(v: object, what: str, max_len: int = 10_000) -> str:
    if not isinstance(v, str) or len(v) > max_len:
        raise PresetError(f"{what} must be a text of at most {max_len} characters, got {type(v).__name__}")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800"): parses, but could never be saved again
        raise PresetError(f"{what} holds an invalid character (a lone UTF-16 surrogate)") from None
    return v


def parse_preset(text: str | bytes, where: str = "preset", demo: dict[str, DemoConcept] | None = None) -> Preset:
    """Parse and validate a preset's JSON (structure, types, ranges). Raises PresetError."""
    try:
        d = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise PresetError(f"{where} is not valid JSON: {e}") from None
    except RecursionError:
        raise PresetError(f"{where} is nested too deeply to be a preset") from None
    if not isinstance(d, dict):
        raise PresetError(f"{where} must hold a JSON object, not {type(d).__name__}")
    if d.get("schema") != SCHEMA:
        raise PresetError(f"{where} is not a Desktop SAE preset (missing \"schema\": \"{SCHEMA}\")")
    ver = d.get("version")
    if not isinstance(ver, int) or isinstance(ver, bool) or ver < 1:
        raise PresetError(f"{where}: bad schema version {_show(ver)}")
    if ver > SCHEMA_VERSION:
        raise PresetError(
            f"{where} was written by a newer Desktop SAE (preset version {_show(ver)}, this one reads {SCHEMA_VERSION})"
        )
    name = _str(d.get("name", ""), f"{where}: name", MAX_NAME).strip() or "untitled"
    sae_d = d.get("sae") or {}
    if not isinstance(sae_d, dict):
        raise PresetError(f"{where}: \"sae\" must be an object")
    d_sae = sae_d.get("d_sae", 0)
    if isinstance(d_sae, bool) or not isinstance(d_sae, int) or d_sae < 0:
        raise PresetError(f"{where}: sae.d_sae must be a non-negative integer, got {_show(d_sae)}")
    ident = SAEIdentity(
        name=_str(sae_d.get("name", ""), f"{where}: sae.name", 300),
        d_sae=d_sae,
        hook=_str(sae_d.get("hook", ""), f"{where}: sae.hook", 300),
        fingerprint=_str(sae_d.get("fingerprint", ""), f"{where}: sae.fingerprint", 128),
    )
    st = d.get("steering")
    if not isinstance(st, dict):
        raise PresetError(f"{where}: missing \"steering\" object")
    feats = st.get("features", [])
    if not isinstance(feats, list) or len(feats) > MAX_FEATURES:
        raise PresetError(f"{where}: steering.features must be a list of at most {MAX_FEATURES} entries")
    specs: list[SteerSpec] = []
    refs: dict[int, str] = {}
    for i, f in enumerate(feats):
        w = f"{where}: steering.features[{i}]"
        if not isinstance(f, dict):
            raise PresetError(f"{w} must be an object")
        fid, concept = f.get("id"), None
        if fid is None and "demo" in f:
            concept = _str(f["demo"], f"{w}.demo", 100)
            if demo is None:
                raise PresetError(f"{w} names demo concept {concept!r}, but no demo feature list "
                                  "(resources/demo_features.json) is installed")
            if concept not in demo:
                known = ", ".join(sorted(demo)) or "none"
                raise PresetError(f"{w} names unknown demo concept {concept!r} (known: {known})")
            f = {**demo[concept].preset_fields(), **f}  # the preset's own win
            fid = demo[concept].feature
        vector = _vector(f.get("vector"), w)
        if isinstance(fid, bool) or not isinstance(fid, int) or (fid < 0) != (vector is not None):
            raise PresetError(f"{w}.id must be a non-negative integer feature id (or a negative key with a "
                              f"\"vector\"), got {_show(fid)}")
        unit = f.get("unit", "raw")
        if unit not in UNITS:
            raise PresetError(f"{w}.unit must be one of {', '.join(UNITS)}, got {_show(unit)}")
        method = f.get("method", "add")
        if not isinstance(method, str) or method.lower() not in METHOD_ALIASES:
            raise PresetError(f"{w}.method must be add, clamp, orth or cap, got {_show(method)}")
        enabled = f.get("enabled", True)
        if not isinstance(enabled, bool):
            raise PresetError(f"{w}.enabled must be true or false, got {_show(enabled)}")
        try:
            spec = SteerSpec(
                feature=fid,
                strength=_num(f.get("strength"), f"{w}.strength", -1e6, 1e6),
                unit=unit,
                method=METHOD_ALIASES[method.lower()],
                enabled=enabled,
                label=_str(f.get("label", ""), f"{w}.label", 300),
                vector=vector,
                **_when(f.get("when"), w),
            )
        except SteeringError as e:
            raise PresetError(f"{w}: {e}") from None
        for row in demo[concept].rows(spec) if concept is not None and demo is not None else (spec,):
            if concept is not None:
                refs[len(specs)] = concept
            specs.append(row)
    skip = st.get("skip_special", True)
    if not isinstance(skip, bool):
        raise PresetError(f"{where}: steering.skip_special must be true or false")
    multiplier = _num(st.get("multiplier", 1.0), f"{where}: steering.multiplier", -100, 100)
    steering = SteeringConfig(tuple(specs), multiplier, skip)
    sampling = _parse_sampling(d.get("sampling", {}), where)
    system = d.get("system")
    if system is not None:
        system = _str(system, f"{where}: system")
    return Preset(
        name=name,
        steering=steering,
        sampling=sampling,
        model=_str(d.get("model", ""), f"{where}: model", 300),
        sae=ident,
        system=system,
        description=_str(d.get("description", ""), f"{where}: description", 2000),
        demo_refs=refs,
    )


def _vector(v: object, where: str) -> tuple[float, ...] | None:
    """A steering vector stored inline: a list of finite numbers (at most MAX_VECTOR_DIM)."""
    if v is None:
        return None
    if not isinstance(v, list) or not 0 < len(v) <= MAX_VECTOR_DIM:
        raise PresetError(f"{where}.vector must be a list of 1..{MAX_VECTOR_DIM} numbers")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v):
        raise PresetError(f"{where}.vector must hold finite numbers only")
    return tuple(float(x) for x in v)


def _when(v: object, where: str) -> dict[str, Any]:
    """A row's condition ``{"feature": G, "above": T, "unit": "raw"|"max"}`` as SteerSpec keywords."""
    if v is None:
        return {}
    if not isinstance(v, dict) or set(v) - {"feature", "above", "unit"}:
        raise PresetError(f"{where}.when must be an object with \"feature\", \"above\" and optionally \"unit\"")
    g = v.get("feature")
    if isinstance(g, bool) or not isinstance(g, int) or g < 0:
        raise PresetError(f"{where}.when.feature must be a non-negative integer feature id, got {_show(g)}")
    unit = v.get("unit", "raw")
    if unit not in UNITS:
        raise PresetError(f"{where}.when.unit must be one of {', '.join(UNITS)}, got {_show(unit)}")
    return {"when": (g, _num(v.get("above"), f"{where}.when.above", -1e6, 1e6)), "when_unit": unit}


def _parse_sampling(s: object, where: str) -> SamplingConfig:
    if not isinstance(s, dict):
        raise PresetError(f"{where}: \"sampling\" must be an object")
    unknown = set(s) - set(_SAMPLING_KEYS)
    if unknown:
        raise PresetError(f"{where}: unknown sampling setting(s): {', '.join(sorted(unknown))}")
    kw: dict[str, Any] = {}
    for key, val in s.items():
        w = f"{where}: sampling.{key}"
        if key == "seed":
            if val is not None and (isinstance(val, bool) or not isinstance(val, int) or not 0 <= val < 2**63):
                raise PresetError(f"{w} must be a non-negative integer or null, got {_show(val)}")
            kw[key] = val
        elif key in ("top_k", "max_new_tokens"):
            if isinstance(val, bool) or not isinstance(val, int) or not 0 <= val <= 100_000:
                raise PresetError(f"{w} must be an integer in [0, 100000], got {_show(val)}")
            kw[key] = val
        else:
            ranges = {"temperature": (0, 100), "top_p": (1e-9, 1), "repetition_penalty": (1e-9, 100)}
            lo, hi = ranges.get(key, (-100, 100))
            kw[key] = _num(val, w, lo, hi)
    try:
        return SamplingConfig(**kw).validate()
    except ValueError as e:
        raise PresetError(f"{where}: {e}") from None
