"""Transcoders (SAELens's ``Transcoder``, ``SkipTranscoder``, ``JumpReLUTranscoder``, ``JumpReLUSkipTranscoder``):
they encode the activations at one hook (``cfg.hook_name``, the MLP's input for the released ones) and decode into
another (``cfg.hook_name_out``, the MLP's output), possibly of another width ``d_out``.

Shapes: ``W_enc [d_in, d_sae]``, ``b_enc [d_sae]``, ``W_dec [d_sae, d_out]``, ``b_dec [d_out]``, ``threshold
[d_sae]`` (JumpReLU), ``W_skip [d_out, d_in]`` (skip). ``b_dec`` lives at the output, so it is never subtracted
from the input, and no input normalisation is applied (SAELens applies none at the output either).

    features = act(x W_enc + b_enc)          act: ReLU, or JumpReLU with the threshold
    output   = features W_dec + b_dec (+ x W_skip^T for a skip transcoder, given the input x)

Steering adds decoder directions at the output hook; that cannot change what the transcoder read at its input on
the same position, so the pre-activation shift of a steering change is zero.
"""

from __future__ import annotations

import torch
from torch import nn

from .autoencoder import SAE, JumpReLUSAE
from .sae_config import SAEConfig


class Transcoder(SAE):
    """ReLU transcoder."""

    architecture = "transcoder"

    def __init__(self, cfg: SAEConfig) -> None:
        d_out = cfg.d_out
        if isinstance(d_out, bool) or not isinstance(d_out, int) or d_out < 1:
            raise ValueError(f"a transcoder needs a positive integer d_out (its output width), got {d_out!r}")
        if cfg.apply_b_dec_to_input:
            raise ValueError("a transcoder cannot apply b_dec to its input: b_dec is the bias of its output")
        if cfg.normalize_activations != "none":
            raise ValueError(f"a transcoder takes no input normalisation, got {cfg.normalize_activations!r}")
        super().__init__(cfg)

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().expected_shapes()
        d_out = self.output_width
        shapes.update(W_dec=(self.cfg.d_sae, d_out), b_dec=(d_out,))
        return shapes

    @property
    def output_hook(self) -> str:
        return self.cfg.hook_name_out

    @property
    def output_width(self) -> int:
        assert self.cfg.d_out is not None  # __init__ refuses a transcoder without d_out
        return self.cfg.d_out

    def saelens_fields(self) -> dict[str, object]:
        return {"d_out": self.output_width}

    def pre_shift(self, v: torch.Tensor) -> torch.Tensor:
        """Zero: a change at the output hook does not reach the input the features were read from."""
        return v.new_zeros(*v.shape[:-1], self.cfg.d_sae)

    @property
    def attribution_refusal(self) -> str | None:
        return (f"it is a transcoder (it reads at {self.input_hook or 'an unnamed hook'} and writes at "
                f"{self.output_hook or 'another'}); attribution graphs need SAEs that read and write the residual "
                "stream")


class SkipTranscoder(Transcoder):
    """ReLU transcoder with a linear skip path: ``output = decode(features) + x W_skip^T``."""

    architecture = "skip_transcoder"
    extra_tensors: tuple[str, ...] = ("W_skip",)
    W_skip: nn.Parameter  # made by SAE.__init__ from extra_tensors

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().expected_shapes()
        shapes["W_skip"] = (self.output_width, self.cfg.d_in)
        return shapes

    def decode(self, acts: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's output, plus the skip path when the input ``like`` is given (SAELens: ``decode`` without
        the skip, ``forward`` with it)."""
        y = super().decode(acts)
        return y if like is None else y + like.to(self.dtype) @ self.W_skip.T


class JumpReLUTranscoder(Transcoder, JumpReLUSAE):
    """JumpReLU transcoder (Gemma Scope 2's transcoders): a feature fires above its own threshold."""

    architecture = "jumprelu_transcoder"
    extra_tensors: tuple[str, ...] = ("threshold",)


class JumpReLUSkipTranscoder(JumpReLUTranscoder, SkipTranscoder):
    """JumpReLU transcoder with a skip path (Gemma Scope 2's ``..._affine`` transcoders)."""

    architecture = "jumprelu_skip_transcoder"
    extra_tensors: tuple[str, ...] = ("threshold", "W_skip")


TRANSCODER_CLASSES: dict[str, type[SAE]] = {
    c.architecture: c for c in (Transcoder, SkipTranscoder, JumpReLUTranscoder, JumpReLUSkipTranscoder)}
