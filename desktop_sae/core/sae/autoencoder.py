"""One SAE module for the standard (ReLU), TopK, JumpReLU and gated architectures (docs/MATHS.md, "SAE encode and
decode").

Shapes follow SAELens: ``W_enc [d_in, d_sae]``, ``W_dec [d_sae, d_in]``, ``b_enc [d_sae]``, ``b_dec [d_in]``,
``threshold [d_sae]`` (JumpReLU), ``b_gate``/``b_mag``/``r_mag [d_sae]`` (gated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

ARCHITECTURES = ("standard", "topk", "jumprelu", "gated")
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
    hook_name: str = ""
    model_name: str = ""
    dtype: str = "float32"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown SAE architecture {self.architecture!r}; supported: {', '.join(ARCHITECTURES)}")
        if self.normalize_activations not in NORMALIZATIONS:
            raise ValueError(
                f"unknown normalize_activations {self.normalize_activations!r}; supported: {', '.join(NORMALIZATIONS)}"
            )
        if self.architecture == "topk" and (self.k is None or not 0 < self.k <= self.d_sae):
            raise ValueError(f"a TopK SAE needs 0 < k <= d_sae ({self.d_sae}); got k={self.k}")


@dataclass(frozen=True)
class FeatureStats:
    """Per-feature statistics used for strength units and sorting (all arrays are [d_sae] float32)."""

    max_activation: np.ndarray
    mean_activation: np.ndarray | None = None  # mean of non-zero activations
    density: np.ndarray | None = None  # fraction of tokens on which the feature fires


class SAE(nn.Module):
    """Sparse autoencoder. ``encode``/``decode`` work on any leading shape ``[..., d_in]``."""

    def __init__(self, cfg: SAEConfig):
        super().__init__()
        self.cfg = cfg
        d_in, d_sae = cfg.d_in, cfg.d_sae
        self.W_enc = nn.Parameter(torch.zeros(d_in, d_sae))
        self.W_dec = nn.Parameter(torch.zeros(d_sae, d_in))
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        if cfg.architecture == "jumprelu":
            self.threshold = nn.Parameter(torch.zeros(d_sae))
        if cfg.architecture == "gated":
            self.b_gate = nn.Parameter(torch.zeros(d_sae))
            self.b_mag = nn.Parameter(torch.zeros(d_sae))
            self.r_mag = nn.Parameter(torch.zeros(d_sae))
        self.stats: FeatureStats | None = None
        self.source_format: str = "memory"
        self.source_path: str | None = None

    # --- tensors by name (for IO) -------------------------------------------------------------
    def tensor_names(self) -> list[str]:
        names = ["W_enc", "W_dec", "b_enc", "b_dec"]
        if self.cfg.architecture == "jumprelu":
            names.append("threshold")
        if self.cfg.architecture == "gated":  # b_enc is unused there, and SAELens's GatedSAE refuses a file with it
            names = ["W_enc", "W_dec", "b_dec", "b_gate", "b_mag", "r_mag"]
        return names

    def saelens_tensors(self) -> tuple[dict[str, torch.Tensor], str, float]:
        """(CPU float32 tensors, normalize_activations, scaling_factor) to write. SAELens ignores a scaling factor in
        cfg.json, so the input scaling of ``expected_average_only_in`` is folded into the weights (activations are
        unchanged); a TopK SAE that rescales by decoder norms keeps its factor (folding would change them)."""
        c, s = self.cfg, self.cfg.scaling_factor
        t = {n: getattr(self, n).detach().to("cpu", torch.float32).contiguous() for n in self.tensor_names()}
        if c.normalize_activations != "expected_average_only_in" or s == 1.0 or (
                c.architecture == "topk" and c.rescale_acts_by_decoder_norm):
            return t, c.normalize_activations, s
        t.update(W_enc=t["W_enc"] * s, W_dec=t["W_dec"] / s, b_dec=t["b_dec"] / s)
        return t, "none", 1.0

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        d_in, d_sae = self.cfg.d_in, self.cfg.d_sae
        shapes = {"W_enc": (d_in, d_sae), "W_dec": (d_sae, d_in), "b_enc": (d_sae,), "b_dec": (d_in,)}
        for name in ("threshold", "b_gate", "b_mag", "r_mag"):
            shapes[name] = (d_sae,)
        return {n: shapes[n] for n in self.tensor_names()}

    @property
    def device(self) -> torch.device:
        return self.W_enc.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W_enc.dtype

    # --- normalisation --------------------------------------------------------------------------
    def _norm_in(self, x: torch.Tensor):
        """Return (normalised x, scale, shift) such that out_raw = out_norm * scale + shift."""
        mode = self.cfg.normalize_activations
        if mode == "constant_norm_rescale":
            scale = x.norm(dim=-1, keepdim=True).clamp_min(1e-12) / math.sqrt(self.cfg.d_in)
            return x / scale, scale, None
        if mode == "layer_norm":
            mu = x.mean(dim=-1, keepdim=True)
            xc = x - mu
            std = xc.std(dim=-1, keepdim=True) + 1e-5
            return xc / std, std, mu
        if mode == "expected_average_only_in" and self.cfg.scaling_factor != 1.0:
            return x * self.cfg.scaling_factor, None, None
        return x, None, None

    @staticmethod
    def _norm_out(y: torch.Tensor, scale, shift) -> torch.Tensor:
        if scale is not None:
            y = y * scale
        if shift is not None:
            y = y + shift
        return y

    # --- encode / decode --------------------------------------------------------------------------
    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations of already-normalised input."""
        x_in = x - self.b_dec if self.cfg.apply_b_dec_to_input else x
        if self.cfg.architecture == "gated":
            return x_in @ self.W_enc
        pre = x_in @ self.W_enc + self.b_enc
        if self.cfg.architecture == "topk" and self.cfg.rescale_acts_by_decoder_norm:
            pre = pre * self.W_dec.norm(dim=-1)
        return pre

    @property
    def linear_input(self) -> bool:
        """True when pre-activations are affine in the input, so a change ``v`` shifts them by ``pre_shift(v)``."""
        return self.cfg.normalize_activations in ("none", "expected_average_only_in")

    def pre_shift(self, v: torch.Tensor) -> torch.Tensor:
        """Change of the pre-activations caused by adding ``v`` to the input (valid when ``linear_input``)."""
        if self.cfg.normalize_activations == "expected_average_only_in" and self.cfg.scaling_factor != 1.0:
            v = v * self.cfg.scaling_factor
        shift = v @ self.W_enc
        if self.cfg.architecture == "topk" and self.cfg.rescale_acts_by_decoder_norm:
            shift = shift * self.W_dec.norm(dim=-1)
        return shift

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        arch = self.cfg.architecture
        if arch == "standard":
            return torch.relu(pre)
        if arch == "jumprelu":
            return torch.relu(pre) * (pre > self.threshold).to(pre.dtype)
        if arch == "topk":
            vals, idx = pre.topk(self.cfg.k, dim=-1, sorted=False)
            return torch.zeros_like(pre).scatter_(-1, idx, torch.relu(vals))
        # gated
        gate = (pre + self.b_gate) > 0
        mag = torch.relu(pre * torch.exp(self.r_mag) + self.b_mag)
        return mag * gate.to(mag.dtype)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x_n, _, _ = self._norm_in(x.to(self.dtype))
        return self.activation(self.pre_activations(x_n))

    def decode(self, acts: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction in the input's space; ``like`` is the original input (needed to undo normalisation)."""
        if self.cfg.architecture == "topk" and self.cfg.rescale_acts_by_decoder_norm:
            acts = acts / self.W_dec.norm(dim=-1)
        y = acts @ self.W_dec + self.b_dec
        if like is not None and self.cfg.normalize_activations in ("constant_norm_rescale", "layer_norm"):
            _, scale, shift = self._norm_in(like.to(self.dtype))
            y = self._norm_out(y, scale, shift)
        elif self.cfg.normalize_activations == "expected_average_only_in" and self.cfg.scaling_factor != 1.0:
            y = y / self.cfg.scaling_factor
        return y

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, activations)."""
        acts = self.encode(x)
        return self.decode(acts, like=x), acts

    def decoder_scale(self, x: torch.Tensor) -> torch.Tensor | float:
        """Factor that maps a decoder-space delta back to the input space at ``x`` (per row)."""
        _, scale, _ = self._norm_in(x.to(self.dtype))
        if scale is not None:
            return scale
        if self.cfg.normalize_activations == "expected_average_only_in" and self.cfg.scaling_factor != 1.0:
            return 1.0 / self.cfg.scaling_factor
        return 1.0

    # --- stats ------------------------------------------------------------------------------------
    def max_activation(self, feature: int) -> float | None:
        if self.stats is None:
            return None
        return float(self.stats.max_activation[feature])

    def describe(self) -> dict[str, Any]:
        c = self.cfg
        return {
            "architecture": c.architecture,
            "d_in": c.d_in,
            "d_sae": c.d_sae,
            "k": c.k,
            "hook": c.hook_name,
            "model_name": c.model_name,
            "format": self.source_format,
            "path": self.source_path,
            "normalize_activations": c.normalize_activations,
            "has_feature_stats": self.stats is not None,
        }
