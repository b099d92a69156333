"""Steering actions of the controller: which features steer the next answer, how strongly and how.

Strengths are in × max activation when the SAE has statistics for the feature, else raw coefficients (the unit
rule lives in ``core.config.resolve_strength``). Every change replaces ``state.steering`` (a frozen
``SteeringConfig``) and emits ``steering_changed``; with "re-run automatically" the GUI calls ``rerun`` after a
debounce.
"""

from __future__ import annotations

from dataclasses import replace

from ..core.steering.specs import SteeringConfig, SteerSpec
from ..core.steering.strength import resolve_strength
from ..core.support.errors import SteeringError


class SteeringActions:
    state = None  # AppState (set by the Controller)
    steering_changed = None  # Signal

    def _set_steering(self, cfg: SteeringConfig) -> None:
        if cfg != self.state.steering:
            self.state.steering = cfg
            self.steering_changed.emit(cfg)

    def set_steering(self, cfg: SteeringConfig) -> None:
        """Replace the whole steering set; features must exist in the loaded SAE (checked before anything changes)."""
        info = self.state.info
        d_sae = info.d_sae if info is not None else 0
        bad = [s.feature for s in cfg.features if not s.is_vector and not 0 <= s.feature < d_sae]
        if bad:
            raise SteeringError(f"feature {bad[0]} does not exist in this SAE ({d_sae} features)")
        cond = [s.when[0] for s in cfg.features if s.when is not None and not 0 <= s.when[0] < d_sae]
        if cond:
            raise SteeringError(f"condition feature {cond[0]} does not exist in this SAE ({d_sae} features)")
        d_in = info.d_in if info is not None else None
        wrong = [s for s in cfg.features if s.is_vector and d_in is not None and len(s.vector) != d_in]
        if wrong:
            raise SteeringError(f"{wrong[0].label or 'the steering vector'} has {len(wrong[0].vector)} dimensions; "
                                f"this SAE's hook has {d_in}")
        self._set_steering(cfg)

    def labelled(self, cfg: SteeringConfig) -> SteeringConfig:
        """``cfg`` with each unlabelled feature row named from the loaded SAE's labels (vector rows keep theirs)."""
        return replace(cfg, features=tuple(replace(s, label=s.label or self.state.label(s.feature))
                                           for s in cfg.features))

    def _spec(self, f: int) -> SteerSpec | None:
        return next((s for s in self.state.steering.features if s.feature == f), None)

    def _replace_spec(self, f: int, **kw) -> None:
        cfg = self.state.steering
        self._set_steering(
            replace(cfg, features=tuple(replace(s, **kw) if s.feature == f else s for s in cfg.features))
        )

    def steer(self, f: int, strength: float = 0.0, method: str = "add", unit: str | None = None) -> SteerSpec:
        """Add feature ``f`` to the steering set (or update its strength and method if it is there)."""
        info = self.state.info
        if info is None or not 0 <= f < info.d_sae:
            raise SteeringError(f"feature {f} does not exist in this SAE")
        unit = unit or ("max" if info.has_stats(f) else "raw")
        spec = SteerSpec(int(f), float(strength), unit, method, True, self.state.label(f))
        cfg = self.state.steering
        if self._spec(f) is None:
            self._set_steering(replace(cfg, features=(*cfg.features, spec)))
        else:
            self._replace_spec(f, strength=spec.strength, method=method, unit=unit, enabled=True)
        return self._spec(f)

    def steer_vector(self, vector, strength: float = 1.0, method: str = "add") -> SteerSpec:
        """Add a ``core.vectors.SteeringVector`` to the steering set under the next free negative key."""
        used = {s.feature for s in self.state.steering.features}
        key = next(k for k in range(-1, -10_000, -1) if k not in used)
        spec = vector.spec(key, strength, method)
        cfg = self.state.steering
        self.set_steering(replace(cfg, features=(*cfg.features, spec)))
        return spec

    def set_strength(self, f: int, strength: float) -> None:
        self._replace_spec(f, strength=float(strength))

    def set_method(self, f: int, method: str) -> None:
        self._replace_spec(f, method=method)

    def set_condition(self, f: int, when: tuple[int, float] | None, unit: str = "raw") -> None:
        """Steer row ``f`` only where feature ``when[0]`` is above ``when[1]`` (raw, or × its max activation with
        unit 'max') on the unsteered residual; None steers everywhere."""
        info = self.state.info
        if when is not None and (info is None or not 0 <= int(when[0]) < info.d_sae):
            raise SteeringError(f"condition feature {when[0]} does not exist in this SAE")
        self._replace_spec(f, when=None if when is None else (int(when[0]), float(when[1])), when_unit=unit)

    def load_vector(self, path, strength: float = 1.0, method: str = "add") -> SteerSpec | None:
        """Read a steering vector file (``core.vectors.load_vector``) and steer with it; a file of another width
        than the SAE's hook is refused with a message and nothing changes."""
        from ..core.steering.vectors import load_vector

        try:
            vec = load_vector(path)
            spec = self.steer_vector(vec, strength, method)
        except SteeringError as e:
            self.report_error("Could not load the steering vector", str(e))
            return None
        hook = self.state.info.sae.hook if self.state.info.sae else ""
        other = f" (made at {vec.hook}; the SAE is at {hook})" if vec.hook and hook and vec.hook != hook else ""
        self.set_status(f"Steering vector loaded: {vec.name}, {len(vec.values)} dimensions{other}")
        return spec

    def save_vector(self, key: int, path):
        """Write steering row ``key`` (a vector) to a safetensors file; returns the path or None on error."""
        from ..core.steering.vectors import SteeringVector, save_vector

        spec, info = self._spec(key), self.state.info
        try:
            if spec is None or not spec.is_vector:
                raise SteeringError("choose a steering vector row to save (feature rows are decoder rows of the SAE)")
            vec = SteeringVector(spec.label or f"vector {-key}", spec.vector, hook=info.sae.hook if info.sae else "",
                                 model=info.model.name, source="saved from the steering panel")
            out = save_vector(vec, path)
        except (SteeringError, OSError) as e:
            self.report_error("Could not save the steering vector", str(e))
            return None
        self.set_status(f"Steering vector saved: {out}")
        return out

    def set_enabled(self, f: int, on: bool) -> None:
        self._replace_spec(f, enabled=bool(on))

    def unsteer(self, f: int) -> None:
        cfg = self.state.steering
        self._set_steering(replace(cfg, features=tuple(s for s in cfg.features if s.feature != f)))

    def set_multiplier(self, m: float) -> None:
        self._set_steering(replace(self.state.steering, multiplier=float(m)))

    def set_skip_special(self, on: bool) -> None:
        self._set_steering(replace(self.state.steering, skip_special=bool(on)))

    def reset_steering(self) -> None:
        """Every strength to 0 and the multiplier to 1 (the rows stay)."""
        cfg = self.state.steering
        self._set_steering(replace(cfg, features=tuple(replace(s, strength=0.0) for s in cfg.features), multiplier=1.0))

    def clear_steering(self) -> None:
        self._set_steering(replace(self.state.steering, features=()))

    def strength_units(self, spec: SteerSpec):
        """One feature's strength in all units after the multiplier (raw, × max, % of the residual norm)."""
        info = self.state.info
        f = spec.feature
        if spec.is_vector:
            max_act, dec_norm = None, sum(v * v for v in spec.vector) ** 0.5
        else:
            max_act = float(info.max_activation[f]) if info is not None and info.has_stats(f) else None
            dec = info.dec_norms if info is not None else None
            dec_norm = float(dec[f]) if dec is not None and 0 <= f < len(dec) else None
        return resolve_strength(
            spec, self.state.steering.multiplier, max_act, dec_norm, info.typical_norm if info is not None else None
        )
