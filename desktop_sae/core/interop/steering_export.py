"""A steering set taken out of the app as one fixed direction (docs/STEERING_EXPORT.md): the vector the app's
additive steering adds at the SAE's hook, with what it was made from, and where llama.cpp adds a control vector
that has the same effect.

Only additive rows without a condition can leave: llama.cpp's control vectors (and any other "add this vector"
format) add the same vector at every position, while clamping, orthogonal gains, projection caps and conditional
rows depend on the residual they act on. The direction is the steering plan's own sum (``plan_steering``), so the
strength-unit rule, weighted sets and the global multiplier are applied exactly as in a chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..engine.hooks import parse_hook_name
from ..presets.file_format import SAEIdentity
from ..steering.plan import plan_steering
from ..steering.specs import SteeringConfig, SteerSpec
from ..steering.vectors import SteeringVector, save_vector
from ..support.errors import SteeringError
from ..support.text_enum import TextEnum
from .llamacpp_control_vector import write_control_vector

if TYPE_CHECKING:
    from ..sae.autoencoder import SAE

EXPORT_VERSION = 1


class ExportFormat(TextEnum):
    GGUF = "gguf"  # a llama.cpp control vector
    SAFETENSORS = "safetensors"  # a Desktop SAE steering vector (core/steering/vectors.py)

    @property
    def suffix(self) -> str:
        return f".{self.value}"

    @classmethod
    def of_path(cls, path: str | Path) -> ExportFormat:
        """The format a file name asks for by its suffix."""
        suffix = Path(path).suffix.lower()
        for f in cls:
            if suffix == f.suffix:
                return f
        raise SteeringError(f"{Path(path).name}: export to a .gguf (llama.cpp control vector) or a .safetensors "
                            "file (Desktop SAE steering vector)")


@dataclass(frozen=True)
class ExportedRow:
    """One steering row as it went into the direction."""

    feature: int  # an SAE feature, or a steering vector's negative key
    label: str
    strength: float  # as the row gives it, in ``unit``
    unit: str
    coefficient: float  # the raw multiple of the row's direction after the unit rule and the global multiplier

    @property
    def name(self) -> str:
        kind = "vector" if self.feature < 0 else "feature"
        return f"{kind} {abs(self.feature) if self.feature < 0 else self.feature}" + (
            f" ({self.label})" if self.label else "")


@dataclass(frozen=True, eq=False)
class SteeringExport:
    """The direction [d_model] (float32, residual units at ``hook``) and what it was made from."""

    name: str
    direction: npt.NDArray[np.float32]
    hook: str
    layer: int  # llama.cpp's control-vector layer: the vector is added to the output of this block
    model: str
    sae: SAEIdentity
    rows: tuple[ExportedRow, ...]
    multiplier: float
    skip_special: bool  # the app leaves special tokens unsteered; a control vector steers every position

    def metadata(self) -> dict[str, object]:
        """What the files record about the export, as plain JSON values."""
        return {"version": EXPORT_VERSION, "name": self.name, "hook": self.hook, "llamacpp_layer": self.layer,
                "model": self.model, "sae": self.sae.name, "sae_d_sae": self.sae.d_sae,
                "sae_fingerprint": self.sae.fingerprint, "multiplier": self.multiplier,
                "app_skips_special_tokens": self.skip_special,
                "features": [r.feature for r in self.rows], "labels": [r.label for r in self.rows],
                "strengths": [r.strength for r in self.rows], "units": [r.unit for r in self.rows],
                "coefficients": [r.coefficient for r in self.rows]}

    def as_vector(self) -> SteeringVector:
        """The direction as a steering vector the app loads back (strength 1 adds exactly this direction)."""
        rows = ", ".join(f"{r.name} × {r.coefficient:.4g}" for r in self.rows)
        return SteeringVector.from_array(self.name, self.direction, hook=self.hook, model=self.model,
                                         source=f"exported steering set: {rows}", meta=self.metadata())


def write_export(export: SteeringExport, path: str | Path, fmt: ExportFormat | None = None) -> Path:
    """Write ``export`` atomically in ``fmt`` (default: the one ``path``'s suffix names)."""
    fmt = ExportFormat.of_path(path) if fmt is None else fmt
    if fmt is ExportFormat.GGUF:
        return write_control_vector(path, export.layer, export.direction, export.model, export.metadata())
    return save_vector(export.as_vector(), path)


def llamacpp_layer(hook: str) -> int:
    """The control-vector layer N (tensor ``direction.N``) that adds a vector where ``hook`` does.

    llama.cpp adds ``direction.N`` to the output of block N, after its MLP's residual add (``l_out``): that is
    ``blocks.N.hook_resid_post``, and ``blocks.N.hook_resid_pre`` is the output of block N - 1. It has no tensor
    for block 0 (it rejects ``direction.0``), so the residual after block 0 and the embeddings cannot be steered."""
    hp = parse_hook_name(hook)
    if hp.site == "hook_attn_out":
        raise SteeringError(f"{hp.name}: llama.cpp adds a control vector to a block's output only; a vector added "
                            "to the attention output also changes the MLP's input in the same block, so no control "
                            "vector does the same")
    if hp.site == "hook_mlp_out":
        raise SteeringError(f"{hp.name}: llama.cpp adds a control vector to a block's output only; export an SAE "
                            "trained on the residual stream (hook_resid_post or hook_resid_pre)")
    layer = hp.layer if hp.site == "hook_resid_post" else hp.layer - 1
    if layer < 1:
        where = "the embeddings" if layer < 0 else "the output of block 0"
        raise SteeringError(f"{hp.name} is {where}, which llama.cpp never steers (its control vectors start at "
                            "the output of block 1)")
    return layer


def refused_rows(steering: SteeringConfig) -> list[str]:
    """The active rows a fixed added vector cannot express, each named with the reason."""
    out = []
    for s in steering.active:
        why = s.method if s.method != "add" else ""
        if s.when is not None:
            g, t = s.when
            cond = f"only where feature {g} is above {t:g}{'x' if s.when_unit == 'max' else ''}"
            why = f"{why}, {cond}" if why else cond
        if why:
            out.append(f"{_row_name(s)} ({why})")
    return out


def build_export(steering: SteeringConfig, sae: SAE, *, hook: str, model: str, identity: SAEIdentity,
                 name: str = "steering") -> SteeringExport:
    """The direction the app adds for ``steering`` at ``hook`` (its additive rows summed, after the unit rule and the
    multiplier). Raises SteeringError, naming every row it refuses, before anything is computed."""
    layer = llamacpp_layer(hook)
    if not steering.active:
        raise SteeringError("nothing to export: no steering row is switched on")
    refused = refused_rows(steering)
    if refused:
        raise SteeringError("only additive steering can be exported as a fixed vector (llama.cpp adds the same "
                            "vector at every position); these rows cannot: " + "; ".join(refused))
    plan = plan_steering(steering, sae)
    assert plan.add_vec is not None and not plan.conditional  # every active row is unconditional and additive
    direction = plan.add_vec.detach().float().cpu().numpy().astype(np.float32)
    if not np.isfinite(direction).all():
        raise SteeringError("the steering direction is not finite (a strength too large for the SAE's dtype?)")
    rows = tuple(ExportedRow(r.spec.feature, r.spec.label, r.spec.strength, r.spec.unit, r.coefficient)
                 for r in plan.resolved)
    return SteeringExport(name, direction, parse_hook_name(hook).name, layer, model, identity, rows,
                          steering.multiplier, steering.skip_special)


def _row_name(s: SteerSpec) -> str:
    base = f"vector {-s.feature}" if s.is_vector else f"feature {s.feature}"
    return f"{base} '{s.label}'" if s.label else base
