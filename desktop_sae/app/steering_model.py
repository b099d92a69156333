"""Steering: which features (or vectors) steer the next answer, how strongly and how, and the automatic re-run.

Strengths are in × max activation when the SAE has statistics for the feature, else raw coefficients (the unit
rule is ``core.steering.strength``). Every change replaces ``config`` (a frozen ``SteeringConfig``) and emits
``changed``. With auto-rerun on, any change — a slider, a lesson, a preset, the CLI — arms the debounce timer; when
it runs out ``rerun_requested`` asks the conversation to answer again (it does only if the steering now differs
from the answer's). The timer is given, so tests fire it themselves.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.steering.specs import NO_STEERING, SteeringConfig, SteerSpec
from ..core.steering.strength import ResolvedSteer, resolve_strength
from ..core.support.errors import SteeringError
from .events import Signal
from .model_slot import ModelSlot
from .notices import Notices
from .timers import Timer

if TYPE_CHECKING:
    from ..core.steering.vectors import SteeringVector

DEBOUNCE_MS = 300


class SteeringModel:
    def __init__(self, model: ModelSlot, notices: Notices, timer: Timer, debounce_ms: int = DEBOUNCE_MS):
        self.model, self.notices, self.timer, self.debounce_ms = model, notices, timer, debounce_ms
        self.config: SteeringConfig = NO_STEERING
        self.auto_rerun = False
        self.changed: Signal[[SteeringConfig]] = Signal("steering")
        self.rerun_requested: Signal[[]] = Signal("rerun_requested")  # debounced, with auto-rerun on
        self.auto_rerun_changed: Signal[[bool]] = Signal("auto_rerun")

    # --- the one way the configuration changes --------------------------------------------------------------------
    def _set(self, cfg: SteeringConfig, rerun: bool = True) -> None:
        if cfg != self.config:
            self.config = cfg
            self.changed.emit(cfg)
            if rerun and self.auto_rerun:
                self.timer.start(self.debounce_ms, self.rerun_requested.emit)

    def set_auto_rerun(self, on: bool) -> None:
        if bool(on) != self.auto_rerun:
            self.auto_rerun = bool(on)
            if not on:
                self.timer.stop()
            self.auto_rerun_changed.emit(self.auto_rerun)

    def reset_for_new_sae(self) -> None:
        """Feature ids mean nothing across SAEs: the rows go (vectors too: their hook may differ); no re-run."""
        self.timer.stop()
        self._set(replace(self.config, features=()), rerun=False)

    def set_steering(self, cfg: SteeringConfig) -> None:
        """Replace the whole steering set; features must exist in the loaded SAE (checked before anything changes)."""
        info = self.model.info
        d_sae = info.d_sae if info is not None else 0
        bad = [s.feature for s in cfg.features if not s.is_vector and not 0 <= s.feature < d_sae]
        if bad:
            raise SteeringError(f"feature {bad[0]} does not exist in this SAE ({d_sae} features)")
        cond = [s.when[0] for s in cfg.features if s.when is not None and not 0 <= s.when[0] < d_sae]
        if cond:
            raise SteeringError(f"condition feature {cond[0]} does not exist in this SAE ({d_sae} features)")
        d_in = info.d_in if info is not None else None
        wrong = [s for s in cfg.features if s.is_vector and d_in is not None and len(s.vector or ()) != d_in]
        if wrong:
            raise SteeringError(f"{wrong[0].label or 'the steering vector'} has {len(wrong[0].vector or ())} "
                                f"dimensions; this SAE's hook has {d_in}")
        self._set(cfg)

    def labelled(self, cfg: SteeringConfig) -> SteeringConfig:
        """``cfg`` with each unlabelled feature row named from the loaded SAE's labels (vector rows keep theirs)."""
        return replace(cfg, features=tuple(replace(s, label=s.label or self.model.label(s.feature))
                                           for s in cfg.features))

    def spec(self, f: int) -> SteerSpec | None:
        return next((s for s in self.config.features if s.feature == f), None)

    def _replace_spec(self, f: int, **kw: Any) -> None:
        cfg = self.config
        self._set(replace(cfg, features=tuple(replace(s, **kw) if s.feature == f else s for s in cfg.features)))

    # --- rows ----------------------------------------------------------------------------------------------------
    def steer(self, f: int, strength: float = 0.0, method: str = "add", unit: str | None = None) -> SteerSpec:
        """Add feature ``f`` to the steering set (or update its strength and method if it is there)."""
        info = self.model.info
        if info is None or not 0 <= f < info.d_sae:
            raise SteeringError(f"feature {f} does not exist in this SAE")
        unit = unit or ("max" if info.has_stats(f) else "raw")
        new = SteerSpec(int(f), float(strength), unit, method, True, self.model.label(f))
        if self.spec(f) is None:
            self._set(replace(self.config, features=(*self.config.features, new)))
        else:
            self._replace_spec(f, strength=new.strength, method=method, unit=unit, enabled=True)
        spec = self.spec(f)
        assert spec is not None
        return spec

    def steer_vector(self, vector: SteeringVector, strength: float = 1.0, method: str = "add") -> SteerSpec:
        """Add a steering vector to the steering set under the next free negative key."""
        used = {s.feature for s in self.config.features}
        key = next(k for k in range(-1, -10_000, -1) if k not in used)
        spec = vector.spec(key, strength, method)
        self.set_steering(replace(self.config, features=(*self.config.features, spec)))
        return spec

    def add_rows(self, rows: tuple[SteerSpec, ...]) -> None:
        """Add (or replace, by feature) several rows in one change: a weighted feature set."""
        keys = {r.feature for r in rows}
        kept = tuple(s for s in self.config.features if s.feature not in keys)
        self.set_steering(replace(self.config, features=(*kept, *rows)))

    def set_strength(self, f: int, strength: float) -> None:
        self._replace_spec(f, strength=float(strength))

    def set_method(self, f: int, method: str) -> None:
        self._replace_spec(f, method=method)

    def set_enabled(self, f: int, on: bool) -> None:
        self._replace_spec(f, enabled=bool(on))

    def set_condition(self, f: int, when: tuple[int, float] | None, unit: str = "raw") -> None:
        """Steer row ``f`` only where feature ``when[0]`` is above ``when[1]`` (raw, or × its max activation with
        unit 'max') on the unsteered residual; None steers everywhere."""
        info = self.model.info
        if when is not None and (info is None or not 0 <= int(when[0]) < info.d_sae):
            raise SteeringError(f"condition feature {when[0]} does not exist in this SAE")
        self._replace_spec(f, when=None if when is None else (int(when[0]), float(when[1])), when_unit=unit)

    def unsteer(self, f: int) -> None:
        self._set(replace(self.config, features=tuple(s for s in self.config.features if s.feature != f)))

    def set_multiplier(self, m: float) -> None:
        self._set(replace(self.config, multiplier=float(m)))

    def set_skip_special(self, on: bool) -> None:
        self._set(replace(self.config, skip_special=bool(on)))

    def reset(self) -> None:
        """Every strength to 0 and the multiplier to 1 (the rows stay)."""
        cfg = self.config
        self._set(replace(cfg, features=tuple(replace(s, strength=0.0) for s in cfg.features), multiplier=1.0))

    def clear(self) -> None:
        self._set(replace(self.config, features=()))

    # --- vectors -------------------------------------------------------------------------------------------------
    def load_vector(self, path: str | Path, strength: float = 1.0, method: str = "add") -> SteerSpec | None:
        """Read a steering vector file and steer with it; a file of another width than the SAE's hook is refused
        with a message and nothing changes."""
        from ..core.steering.vectors import load_vector

        try:
            vec = load_vector(path)
            spec = self.steer_vector(vec, strength, method)
        except SteeringError as e:
            self.notices.report_error("Could not load the steering vector", str(e))
            return None
        info = self.model.info
        hook = info.sae.hook if info is not None and info.sae else ""
        other = f" (made at {vec.hook}; the SAE is at {hook})" if vec.hook and hook and vec.hook != hook else ""
        self.notices.set_status(f"Steering vector loaded: {vec.name}, {len(vec.values)} dimensions{other}")
        return spec

    def save_vector(self, key: int, path: str | Path) -> Path | None:
        """Write steering row ``key`` (a vector) to a safetensors file; returns the path or None on error."""
        from ..core.steering.vectors import SteeringVector, save_vector

        spec, info = self.spec(key), self.model.info
        try:
            if spec is None or spec.vector is None or info is None:
                raise SteeringError("choose a steering vector row to save (feature rows are decoder rows of the SAE)")
            vec = SteeringVector(spec.label or f"vector {-key}", spec.vector, hook=info.sae.hook if info.sae else "",
                                 model=info.model.name, source="saved from the steering panel")
            out = save_vector(vec, path)
        except (SteeringError, OSError) as e:
            self.notices.report_error("Could not save the steering vector", str(e))
            return None
        self.notices.set_status(f"Steering vector saved: {out}")
        return out

    # --- reading -------------------------------------------------------------------------------------------------
    def watched(self) -> tuple[int, ...]:
        """The features steered now (vector rows have no activation to watch)."""
        return tuple(s.feature for s in self.config.active if not s.is_vector)

    def strength_units(self, spec: SteerSpec) -> ResolvedSteer:
        """One row's strength in all units after the multiplier (raw, × max, % of the residual norm)."""
        info = self.model.info
        f = spec.feature
        if spec.vector is not None:
            max_act, dec_norm = None, sum(v * v for v in spec.vector) ** 0.5
        else:
            max_act = float(info.max_activation[f]) if info is not None and info.max_activation is not None \
                and info.has_stats(f) else None
            dec_norm = info.dec_norm(f) if info is not None else None
        return resolve_strength(spec, self.config.multiplier, max_act, dec_norm,
                                info.typical_norm if info is not None else None)
