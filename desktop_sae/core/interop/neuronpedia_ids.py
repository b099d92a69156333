"""The tables of the Neuronpedia format and the names that differ between them and us: model ids, SAE source ids
and steering methods (docs/NEURONPEDIA.md). Tables and pure functions only, so the importer (``neuronpedia_read``),
the exporter (``neuronpedia_write``) and the tests share one definition of each.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..presets.file_format import SAEIdentity

# Neuronpedia steer_method -> our SteerSpec.method. A method ours lacks is refused on import with UNSUPPORTED[...];
# PROJECTION_CAP turns on by itself once core.steering.specs.METHODS holds 'cap'.
METHODS = {"SIMPLE_ADDITIVE": "add", "ORTHOGONAL_DECOMP": "orth", "PROJECTION_CAP": "cap"}
UNSUPPORTED = {"PROJECTION_CAP": "projection cap is not supported by this version"}
DEFAULT_METHOD = "SIMPLE_ADDITIVE"
DEFAULT_SEED = 16

EXTRA = "desktopSae"  # our block inside an exported file
OUTPUT_TYPES = ("STEERED", "DEFAULT")
# the defaults of Neuronpedia's steering page, for fields a file leaves out
DEFAULTS = {"temperature": 0.5, "n_tokens": 256, "freq_penalty": 1.0, "seed": DEFAULT_SEED, "strength_multiplier": 1.0,
            "steer_method": DEFAULT_METHOD, "steer_special_tokens": True}
# Neuronpedia's own limits: an export notes values beyond them (their site would refuse the request)
THEIR_LIMITS = {"temperature": (0, 2), "n_tokens": (1, 256), "freq_penalty": (-2, 2), "strength_multiplier": (0, 10),
                "seed": (-100_000_000, 100_000_000)}

# our model (normalised name) -> Neuronpedia model id; other models get the generic slug of ``model_id``
MODEL_IDS = {"smollm2-135m-instruct": "smollm2-135m-it"}

# our hook site <-> the site part of a Neuronpedia source id ("12-res-jb": layer 12, residual stream, set "jb")
SITE_KINDS = {"hook_resid_post": "res", "hook_resid_pre": "respre", "hook_mlp_out": "mlp", "hook_attn_out": "att"}
KIND_SITES = {v: k for k, v in SITE_KINDS.items()}
_HOOK_RE = re.compile(r"blocks\.(\d+)\.(hook_resid_pre|hook_resid_post|hook_mlp_out|hook_attn_out)")
_SOURCE_RE = re.compile(r"(\d{1,6})-([a-z0-9][a-z0-9_.-]{0,200})")
_QUANT_RE = re.compile(r"[.-](q\d\w*|iq\d\w*|f16|f32|bf16)$")


def neuronpedia_method(ours: str) -> str | None:
    """Neuronpedia's steer_method for one of our methods, or None (clamp has no equivalent there)."""
    return next((np for np, o in METHODS.items() if o == ours), None)


def _norm(name: str) -> str:
    s = name.strip().lower().rsplit("/", 1)[-1]
    s = _QUANT_RE.sub("", s)
    return re.sub(r"[^a-z0-9.]+", "-", s).strip("-")


def model_id(name: str, neuronpedia_id: str = "") -> str:
    """Neuronpedia's id for a model: the SAE's own ``neuronpedia_id`` ("model/source") wins, then ``MODEL_IDS``,
    else the name lower-cased without organisation or GGUF quantisation, "-instruct" shortened to "-it"."""
    if "/" in neuronpedia_id:
        return neuronpedia_id.split("/", 1)[0].strip().lower()
    key = _norm(name)
    if key in MODEL_IDS:
        return MODEL_IDS[key]
    return key[: -len("-instruct")] + "-it" if key.endswith("-instruct") else key


def same_model(theirs: str, ours: str, neuronpedia_id: str = "") -> bool:
    """Whether a Neuronpedia model id (or a Hugging Face name) names the model we have."""
    mine = model_id(ours, neuronpedia_id)
    return model_id(theirs) == mine or theirs.strip().lower() == mine


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "sae"


@dataclass(frozen=True)
class Source:
    """A parsed Neuronpedia source id such as ``12-res-jb`` or ``20-gemmascope-res-16k``."""

    layer: int
    rest: str  # everything after the layer: "res-jb"

    @property
    def kind(self) -> str | None:
        parts = self.rest.split("-")
        return next((p for p in parts if p in KIND_SITES), None)

    @property
    def hook(self) -> str | None:
        """Our hook point for this source (a "res" source is read as the residual stream after the layer)."""
        return f"blocks.{self.layer}.{KIND_SITES[self.kind]}" if self.kind else None

    def describe(self) -> str:
        where = {"res": "residual stream", "respre": "residual stream before the layer", "mlp": "MLP output",
                 "att": "attention output"}.get(self.kind or "", "an unknown site")
        return f"layer {self.layer}, {where}"


def parse_source(text: str) -> Source | None:
    m = _SOURCE_RE.fullmatch(text.strip().lower())
    return Source(int(m.group(1)), m.group(2)) if m else None


def source_id(sae: SAEIdentity, neuronpedia_id: str = "") -> str:
    """Our SAE's Neuronpedia source id: the source part of its ``neuronpedia_id`` if it has one, else
    ``<layer>-<site>-<slug of the SAE's name>`` (the bundled SAE: ``12-res-smollm2-135m-instruct``)."""
    if "/" in neuronpedia_id:
        return neuronpedia_id.split("/", 1)[1].strip().lower()
    m = _HOOK_RE.fullmatch(sae.hook.strip())
    if not m:
        return ""
    return f"{m.group(1)}-{SITE_KINDS[m.group(2)]}-{slug(sae.name)}"


def source_problem(source: str, sae: SAEIdentity | None, neuronpedia_id: str = "",
                   same_weights: bool = False) -> str | None:
    """Why a feature's source is not the loaded SAE (None when it is). ``same_weights``: the file also carries our
    SAE fingerprint and it matches, so a renamed SAE folder still counts when layer and site agree."""
    src = parse_source(source)
    if src is None:
        return f"{source!r} is not a Neuronpedia source id (like 12-res-jb)"
    if sae is None:
        return f"it steers features of SAE {source!r}, but no SAE is loaded"
    mine = source_id(sae, neuronpedia_id)
    have = f"we have {sae.describe()}, Neuronpedia source id {mine!r}" if mine else f"we have {sae.describe()}"
    if source.strip().lower() == mine:
        return None
    if src.hook != sae.hook:
        return f"SAE {source!r} ({src.describe()}) is not loaded; {have}"
    if same_weights:
        return None
    return f"SAE {source!r} is another SAE at {sae.hook} (feature numbers differ between SAEs); {have}"


@dataclass(frozen=True)
class Target:
    """What we have: the model's name and the loaded SAE (``neuronpedia_id``: its SAELens "model/source" id)."""

    model: str
    sae: SAEIdentity | None = None
    neuronpedia_id: str = ""


def snapshot(model: str, feats: Sequence[tuple[str, int, float, str]], mult: float, method: str | None,
             temperature: object, n_tokens: object, freq: object, seed: object, special: bool) -> dict[str, Any]:
    """The Neuronpedia fields an export wrote: an import restores our exact settings only if they are unchanged.
    The sampling values are as the file gives them (an import compares them before converting)."""
    return {"modelId": model, "features": [[f[0], f[1], f[2]] for f in feats], "strength_multiplier": mult,
            "steer_method": method, "temperature": temperature, "n_tokens": n_tokens, "freq_penalty": freq,
            "seed": seed, "steer_special_tokens": special}
