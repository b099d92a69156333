"""What describes an SAE without its weights: the architectures and input normalisations this app reads, the
configuration (``SAEConfig``, SAELens's fields), per-feature statistics and the summary the app shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..support.file_values import quote

TRANSCODERS = ("transcoder", "skip_transcoder", "jumprelu_transcoder", "jumprelu_skip_transcoder")  # SAELens's names
ARCHITECTURES = ("standard", "topk", "jumprelu", "gated", *TRANSCODERS)
NORMALIZATIONS = ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm")


@dataclass(frozen=True)
class SAEConfig:
    d_in: int
    d_sae: int
    architecture: str = "standard"
    k: int | None = None
    apply_b_dec_to_input: bool = True
    normalize_activations: str = "none"
    rescale_acts_by_decoder_norm: bool = False
    scaling_factor: float = 1.0  # expected_average_only_in: inputs are multiplied by this
    hook_name: str = ""  # where the SAE reads (and, unless it is a transcoder, writes)
    model_name: str = ""
    dtype: str = "float32"
    metadata: dict[str, Any] = field(default_factory=dict)
    d_out: int | None = None  # transcoders: the width at hook_name_out
    hook_name_out: str = ""  # transcoders: where the output (and steering) goes

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown SAE architecture {self.architecture!r}; supported: {', '.join(ARCHITECTURES)}")
        if self.normalize_activations not in NORMALIZATIONS:
            raise ValueError(
                f"unknown normalize_activations {self.normalize_activations!r}; supported: {', '.join(NORMALIZATIONS)}"
            )
        if self.architecture == "topk":
            k = self.k
            if isinstance(k, bool) or not isinstance(k, int) or not 0 < k <= self.d_sae:
                raise ValueError(f"a TopK SAE needs an integer k with 0 < k <= d_sae={self.d_sae}, got {quote(k)}")


@dataclass(frozen=True)
class FeatureStats:
    """Per-feature statistics used for strength units and sorting (all arrays are [d_sae] float32)."""

    max_activation: np.ndarray
    mean_activation: np.ndarray | None = None  # mean of non-zero activations
    density: np.ndarray | None = None  # fraction of tokens on which the feature fires


@dataclass(frozen=True)
class SAEDescription:
    """What the app and the CLI show of a loaded SAE."""

    architecture: str
    d_in: int
    d_sae: int
    k: int | None
    hook: str
    model_name: str
    format: str
    path: str | None
    normalize_activations: str
    has_feature_stats: bool
    hook_out: str = ""  # where the SAE writes, when that is not ``hook`` (transcoders)


# TransformerLens names some SAELens SAEs use for a site this app names otherwise (the MLP's normalised input)
_HOOK_ALIASES = (("mlp.hook_in", "hook_mlp_in"), ("ln2.hook_normalized", "hook_mlp_in"))


def app_hook_name(name: str) -> str:
    """The app's name for a SAELens/TransformerLens hook name (``blocks.5.mlp.hook_in`` -> ``blocks.5.hook_mlp_in``)."""
    for theirs, ours in _HOOK_ALIASES:
        if name.startswith("blocks.") and name.endswith("." + theirs):
            return name.removesuffix(theirs) + ours
    return name
