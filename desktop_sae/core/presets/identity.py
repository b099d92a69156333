"""Which SAE a preset was made for, and the check of a parsed preset against the loaded SAE (identity, feature ids,
units that need statistics) that runs before anything is applied; it raises ``PresetError``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..support.errors import PresetError
from .file_format import Preset, SAEIdentity

if TYPE_CHECKING:
    import numpy as np

    from ..sae.autoencoder import SAE


def sae_identity(sae: SAE, hook: str | None = None, name: str | None = None) -> SAEIdentity:
    """Identity of a loaded core SAE (name = its folder name unless given)."""
    import hashlib

    import torch

    rows = sae.W_dec.detach()[:8].to("cpu", torch.bfloat16).float().numpy()
    fp = hashlib.sha256(rows.tobytes()).hexdigest()[:16]
    if name is None:
        src = getattr(sae, "source_path", None)
        name = Path(src).name if src else sae.cfg.metadata.get("neuronpedia_id", "") or ""
    return SAEIdentity(name=name, d_sae=int(sae.cfg.d_sae), hook=hook or sae.cfg.hook_name, fingerprint=fp)


def check_preset(p: Preset, current: SAEIdentity | None, max_activation: np.ndarray | None = None) -> None:
    """Check a parsed preset against the loaded SAE; raises PresetError, changes nothing."""
    if not p.steering.features:
        return
    if current is None:
        raise PresetError(f"preset {p.name!r} steers features, but no SAE is loaded")
    want = p.sae
    if want.d_sae and want.d_sae != current.d_sae:
        raise PresetError(
            f"preset {p.name!r} was made for another SAE: {want.describe()}; loaded: {current.describe()}"
        )
    if want.hook and current.hook and want.hook != current.hook:
        raise PresetError(f"preset {p.name!r} was made for an SAE at {want.hook}; the loaded SAE is at {current.hook}")
    if want.fingerprint and current.fingerprint and want.fingerprint != current.fingerprint:
        raise PresetError(
            f"preset {p.name!r} was made for another SAE ({want.describe()}); its weights differ from the loaded one"
        )
    if not want.fingerprint and want.name and current.name and want.name != current.name:
        raise PresetError(f"preset {p.name!r} was made for SAE {want.name!r}; the loaded SAE is {current.name!r}")
    def has_stats(f: int) -> bool:
        mx = None if max_activation is None else float(max_activation[f])
        return mx is not None and math.isfinite(mx) and mx > 0

    for s in p.steering.features:
        if s.when is not None:
            g = s.when[0]
            if not 0 <= g < current.d_sae:
                raise PresetError(f"preset {p.name!r}: condition feature {g} does not exist (this SAE has "
                                  f"0..{current.d_sae - 1})")
            if s.when_unit == "max" and not has_stats(g):
                raise PresetError(f"preset {p.name!r}: the condition on feature {g} is in × max activation, but this "
                                  "SAE has no statistics for it")
        if s.is_vector:  # its width is checked against the hook when it is applied
            continue
        if not 0 <= s.feature < current.d_sae:
            raise PresetError(
                f"preset {p.name!r}: feature {s.feature} does not exist (this SAE has 0..{current.d_sae - 1})"
            )
        if s.unit == "max" and not has_stats(s.feature):
            raise PresetError(f"preset {p.name!r}: feature {s.feature} is given in × max activation, but this SAE "
                              "has no statistics for it")


