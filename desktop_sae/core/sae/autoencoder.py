"""Sparse autoencoders: one class for each architecture (standard ReLU, TopK, JumpReLU, gated; docs/MATHS.md, "SAE
encode and decode"; transcoders in transcoder.py). Every rule that depends on the architecture is a method here,
never a test of ``cfg.architecture`` elsewhere. ``SAE(cfg)`` makes the class that ``cfg.architecture`` names.

Shapes follow SAELens: ``W_enc [d_in, d_sae]``, ``W_dec [d_sae, d_in]``, ``b_enc [d_sae]``, ``b_dec [d_in]``,
``threshold [d_sae]`` (JumpReLU), ``b_gate``/``b_mag``/``r_mag [d_sae]`` (gated).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..support.row_blocks import matmul_rows
from ..support.row_kernels import KERNELS, RowKernel, SingleRowProduct
from .sae_config import FeatureStats, SAEConfig, SAEDescription

Memo = dict[str, torch.Tensor]  # what several ``selected_activations`` calls on the same ``pre`` share


class SAE(nn.Module):
    """Sparse autoencoder (the standard ReLU architecture; the others subclass it). ``encode``/``decode`` work on any
    leading shape ``[..., d_in]``."""

    architecture = "standard"
    extra_tensors: tuple[str, ...] = ()  # parameters beyond W_enc, W_dec, b_enc, b_dec
    W_enc: nn.Parameter  # these four are made by __init__, in the shapes of ``expected_shapes``
    W_dec: nn.Parameter
    b_enc: nn.Parameter
    b_dec: nn.Parameter

    def __new__(cls, cfg: SAEConfig | None = None, *args: Any, **kwargs: Any) -> SAE:
        if cls is SAE and cfg is not None:
            cls = sae_class(cfg.architecture)
        return super().__new__(cls)

    def __init__(self, cfg: SAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        shapes = self.expected_shapes()
        for name in ("W_enc", "W_dec", "b_enc", "b_dec", *self.extra_tensors):
            setattr(self, name, nn.Parameter(torch.zeros(shapes.get(name, (cfg.d_sae,)))))
        self.stats: FeatureStats | None = None
        self.source_format: str = "memory"
        self.source_path: str | None = None

    # --- tensors by name (for IO) -------------------------------------------------------------
    def tensor_names(self) -> list[str]:
        return ["W_enc", "W_dec", "b_enc", "b_dec", *self.extra_tensors]

    def saelens_tensors(self) -> tuple[dict[str, torch.Tensor], str, float]:
        """(CPU float32 tensors, normalize_activations, scaling_factor) to write. SAELens ignores a scaling factor in
        cfg.json, so the input scaling of ``expected_average_only_in`` is folded into the weights (activations are
        unchanged) where the architecture allows it."""
        c, s = self.cfg, self.cfg.scaling_factor
        t = {n: getattr(self, n).detach().to("cpu", torch.float32).contiguous() for n in self.tensor_names()}
        if c.normalize_activations != "expected_average_only_in" or s == 1.0 or not self.can_fold_input_scaling:
            return t, c.normalize_activations, s
        t.update(W_enc=t["W_enc"] * s, W_dec=t["W_dec"] / s, b_dec=t["b_dec"] / s)
        return t, "none", 1.0

    @property
    def can_fold_input_scaling(self) -> bool:
        """Whether scaling the input can be folded into the weights without changing the activations."""
        return True

    def saelens_fields(self) -> dict[str, Any]:
        """The architecture's own keys of a SAELens cfg.json."""
        return {}

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        d_in, d_sae = self.cfg.d_in, self.cfg.d_sae
        shapes = {"W_enc": (d_in, d_sae), "W_dec": (d_sae, d_in), "b_enc": (d_sae,), "b_dec": (d_in,)}
        return {n: shapes.get(n, (d_sae,)) for n in self.tensor_names()}

    # --- where it reads and writes (a transcoder reads at one hook and writes at another) ---------
    @property
    def input_hook(self) -> str:
        """The hook point whose activations ``encode`` reads."""
        return self.cfg.hook_name

    @property
    def output_hook(self) -> str:
        """The hook point that ``decode`` reconstructs and steering writes to."""
        return self.cfg.hook_name

    @property
    def output_width(self) -> int:
        """Width of ``decode``'s output and of the decoder directions."""
        return self.cfg.d_in

    @property
    def device(self) -> torch.device:
        return self.W_enc.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W_enc.dtype

    # --- normalisation --------------------------------------------------------------------------
    def _norm_in(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
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
    def _norm_out(y: torch.Tensor, scale: torch.Tensor | None, shift: torch.Tensor | None) -> torch.Tensor:
        if scale is not None:
            y = y * scale
        if shift is not None:
            y = y + shift
        return y

    # --- encode / decode --------------------------------------------------------------------------
    _rows: SingleRowProduct | None = None  # the single-row encoder product while decoding (use_row_kernel)

    def use_row_kernel(self, kind: str | None) -> None:
        """Compute single bf16/fp16 CPU rows of the encoder with ``kind`` (the model's measured row kernel,
        core/support/row_kernels.py) from a prepared copy of ``W_enc.T``; ``int4`` (beside a model in 4-bit
        weights): ``W_enc`` in 8-bit groups, for a decoding step's few rows; None: plain ``x @ W_enc``."""
        self._rows = SingleRowProduct(kind) if kind in (*KERNELS, RowKernel.INT4) else None

    def encoder_product(self, x_in: torch.Tensor) -> torch.Tensor:
        """``x_in @ W_enc``: a decoding step's single row on the prepared kernel; a prompt's rows in a few row counts
        (core/support/row_blocks.py)."""
        y = self._rows(x_in, self.W_enc) if self._rows is not None else None
        return matmul_rows(x_in, self.W_enc) if y is None else y

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations of already-normalised input."""
        x_in = x - self.b_dec if self.cfg.apply_b_dec_to_input else x
        return self.encoder_product(x_in) + self.b_enc

    def input_pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations of a raw input (normalised first, as ``encode`` does)."""
        return self.pre_activations(self._norm_in(x)[0])

    @property
    def linear_input(self) -> bool:
        """True when pre-activations are affine in the input, so a change ``v`` shifts them by ``pre_shift(v)``."""
        return self.cfg.normalize_activations in ("none", "expected_average_only_in")

    def pre_shift(self, v: torch.Tensor) -> torch.Tensor:
        """Change of the pre-activations caused by adding ``v`` to the input (valid when ``linear_input``)."""
        if self.cfg.normalize_activations == "expected_average_only_in" and self.cfg.scaling_factor != 1.0:
            v = v * self.cfg.scaling_factor
        return v @ self.W_enc

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre)

    # --- linear attribution (core/attribution) ------------------------------------------------------
    @property
    def attribution_refusal(self) -> str | None:
        """Why attribution graphs cannot use this SAE, or None: they need pre-activations affine in the input."""
        if not self.linear_input:
            return f"its input normalisation ({self.cfg.normalize_activations}) is not linear"
        return None

    def encoder_directions(self, idx: torch.Tensor) -> torch.Tensor:
        """``[n, d_in]``: the gradient of each active feature's activation with respect to the raw input (for
        ReLU, TopK and JumpReLU the activation of an active feature is its pre-activation)."""
        rows = self.W_enc[:, idx].T
        if self.cfg.normalize_activations == "expected_average_only_in" and self.cfg.scaling_factor != 1.0:
            rows = rows * self.cfg.scaling_factor
        return rows

    def decoder_directions(self, idx: torch.Tensor) -> torch.Tensor:
        """``[n, d_in]``: what one unit of each feature's activation adds to the reconstruction of the raw input."""
        rows = self.W_dec[idx]
        if self.cfg.normalize_activations == "expected_average_only_in" and self.cfg.scaling_factor != 1.0:
            rows = rows / self.cfg.scaling_factor
        return rows

    def selected_activations(self, pre: torch.Tensor, idx: torch.Tensor, memo: Memo | None = None) -> torch.Tensor:
        """The activations of a few features ``idx`` from their pre-activations ``pre`` [..., d_sae]; ``memo`` keeps
        what several calls on the same ``pre`` can share."""
        return self.activation(pre)[..., idx]

    def strongest(self, pre: torch.Tensor, n: int, watch: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(values, ids) of the ``n`` strongest features at each position, strongest first, and the activations of
        the ``watch`` features (None without)."""
        a = self.activation(pre)
        vals, ids = a.topk(n, dim=-1)
        return vals, ids, (a[..., watch] if watch is not None else None)

    def encode_sparse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(values [B, k], feature ids [B, k]) of the active features of ``x`` [B, d_in], on the SAE's device;
        zeros stand for padding (rows with fewer active features)."""
        acts = self.encode(x.to(device=self.device, dtype=self.dtype))
        k = int((acts > 0).sum(1).max().clamp_min(1))
        return acts.topk(k, dim=1, sorted=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x_n, _, _ = self._norm_in(x.to(self.dtype))
        return self.activation(self.pre_activations(x_n))

    def decoder_input(self, acts: torch.Tensor) -> torch.Tensor:
        """Activations as the decoder multiplies them."""
        return acts

    def decode(self, acts: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction in the input's space; ``like`` is the original input (needed to undo normalisation)."""
        y = matmul_rows(self.decoder_input(acts), self.W_dec) + self.b_dec
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

    def describe(self) -> SAEDescription:
        c = self.cfg
        return SAEDescription(c.architecture, c.d_in, c.d_sae, c.k, c.hook_name, c.model_name, self.source_format,
                              self.source_path, c.normalize_activations, self.stats is not None,
                              "" if self.output_hook == self.input_hook else self.output_hook)


class TopKSAE(SAE):
    """TopK: the k largest pre-activations (after ReLU) are kept, the rest are zero. A feature is active iff its
    pre-activation reaches the k-th largest, so a few features' activations need no dense vector."""

    architecture = "topk"

    @property
    def _rescaled(self) -> bool:
        return self.cfg.rescale_acts_by_decoder_norm

    @property
    def _k(self) -> int:
        assert self.cfg.k is not None  # SAEConfig refuses a TopK config without an integer k
        return self.cfg.k

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        pre = super().pre_activations(x)
        return pre * self.W_dec.norm(dim=-1) if self._rescaled else pre

    def pre_shift(self, v: torch.Tensor) -> torch.Tensor:
        shift = super().pre_shift(v)
        return shift * self.W_dec.norm(dim=-1) if self._rescaled else shift

    @property
    def can_fold_input_scaling(self) -> bool:
        return not self._rescaled  # folding would change the decoder norms the activations are scaled by

    def saelens_fields(self) -> dict[str, Any]:
        return {"k": self.cfg.k, "rescale_acts_by_decoder_norm": self._rescaled}

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        vals, idx = pre.topk(self._k, dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter_(-1, idx, torch.relu(vals))

    def _kth(self, pre: torch.Tensor, memo: Memo | None) -> torch.Tensor:
        memo = {} if memo is None else memo
        if "kth" not in memo:
            memo["kth"] = pre.topk(self._k, dim=-1).values[..., -1:]
        return memo["kth"]

    def selected_activations(self, pre: torch.Tensor, idx: torch.Tensor, memo: Memo | None = None) -> torch.Tensor:
        sel = pre[..., idx]
        return torch.where(sel >= self._kth(pre, memo), torch.relu(sel), torch.zeros_like(sel))

    def strongest(self, pre: torch.Tensor, n: int, watch: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        vals, ids = pre.topk(self._k, dim=-1)  # sorted: the first n are the strongest features
        kth = vals[..., -1:]
        watched = None
        if watch is not None:
            w = pre[..., watch]
            watched = torch.where(w >= kth, torch.relu(w), torch.zeros_like(w))
        return torch.relu(vals[..., :n]), ids[..., :n], watched

    def encode_sparse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg.normalize_activations != "none":
            return super().encode_sparse(x)
        pre = self.pre_activations(x.to(device=self.device, dtype=self.dtype))
        v, i = pre.topk(self._k, dim=1, sorted=False)
        return v.clamp_min(0), i

    def decoder_input(self, acts: torch.Tensor) -> torch.Tensor:
        return acts / self.W_dec.norm(dim=-1) if self._rescaled else acts

    def encoder_directions(self, idx: torch.Tensor) -> torch.Tensor:
        rows = super().encoder_directions(idx)
        return rows * self.W_dec[idx].norm(dim=-1, keepdim=True) if self._rescaled else rows

    def decoder_directions(self, idx: torch.Tensor) -> torch.Tensor:
        rows = super().decoder_directions(idx)
        return rows / self.W_dec[idx].norm(dim=-1, keepdim=True) if self._rescaled else rows


class JumpReLUSAE(SAE):
    """JumpReLU: a feature fires where its pre-activation exceeds its own learned ``threshold``."""

    architecture = "jumprelu"
    extra_tensors: tuple[str, ...] = ("threshold",)
    threshold: nn.Parameter  # made by SAE.__init__ from extra_tensors

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre) * (pre > self.threshold).to(pre.dtype)


class GatedSAE(SAE):
    """Gated: a gate (``b_gate``) decides which features fire, a rescaled magnitude path (``r_mag``, ``b_mag``) how
    strongly; ``b_enc`` is unused (and SAELens's GatedSAE refuses a file that has it)."""

    architecture = "gated"
    extra_tensors = ("b_gate", "b_mag", "r_mag")
    b_gate: nn.Parameter  # these three are made by SAE.__init__ from extra_tensors
    b_mag: nn.Parameter
    r_mag: nn.Parameter

    def tensor_names(self) -> list[str]:
        return ["W_enc", "W_dec", "b_dec", *self.extra_tensors]

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        x_in = x - self.b_dec if self.cfg.apply_b_dec_to_input else x
        return self.encoder_product(x_in)

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        gate = (pre + self.b_gate) > 0
        mag = torch.relu(pre * torch.exp(self.r_mag) + self.b_mag)
        return mag * gate.to(mag.dtype)

    def encoder_directions(self, idx: torch.Tensor) -> torch.Tensor:
        return super().encoder_directions(idx) * torch.exp(self.r_mag[idx])[:, None]  # the magnitude path's slope


ARCHITECTURE_CLASSES: dict[str, type[SAE]] = {c.architecture: c for c in (SAE, TopKSAE, JumpReLUSAE, GatedSAE)}


def sae_class(architecture: str) -> type[SAE]:
    """The class of an architecture in ARCHITECTURES (SAEConfig has checked the name)."""
    if architecture in ARCHITECTURE_CLASSES:
        return ARCHITECTURE_CLASSES[architecture]
    from .transcoder import TRANSCODER_CLASSES  # (it subclasses these classes: imported when first needed)

    return TRANSCODER_CLASSES[architecture]
