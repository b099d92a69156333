"""The strength-sweep job: one prompt and seed, the answer at each strength measured with the steering evaluation's
measures; partials ("ref", SweepRefs) once, then ("point", index, SweepPoint) per strength."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..core.engine.sampling import SamplingConfig
from ..core.steering.specs import SteeringConfig, SteerSpec
from .tasks import NotReady


@dataclass(frozen=True)
class SweepRequest:
    prompt: str
    strengths: tuple[float, ...]
    keywords: tuple[str, ...]
    sampling: SamplingConfig
    spec: SteerSpec | None = None  # one feature (or vector) at each strength; None: the whole steering set ...
    steering: SteeringConfig | None = None  # ... scaled by each strength (the multiplier)
    features: tuple[int, ...] = ()  # read back on the answer (concept score)
    system: str | None = None
    skip_special: bool = True

    def steering_at(self, s: float) -> SteeringConfig:
        if self.spec is not None:
            return SteeringConfig((replace(self.spec, strength=float(s), enabled=True),),
                                  skip_special=self.skip_special)
        if self.steering is None:
            raise ValueError("a sweep needs a feature or a steering set")
        return replace(self.steering, multiplier=float(s))


def strength_sweep_job(req: SweepRequest):
    def fn(session, state):
        from ..core.steer_eval.data import load_splits, neutral_texts
        from ..core.steer_eval.sweep import other_prompt, sweep_point, sweep_references

        if session is None:
            raise NotReady("the model is not loaded yet")
        if session.sae is None:
            raise NotReady("a strength sweep needs an SAE")
        for s in req.strengths:
            session.plan(req.steering_at(s))  # validate every point before generating
        try:
            candidates, human = load_splits().selection, neutral_texts()
        except (OSError, ValueError):
            candidates, human = (), ()
        n = len(req.strengths) + 1
        state.progress(0.0, "Default answer")
        ref = sweep_references(session, req.prompt, req.sampling, req.keywords, req.features, human,
                               other_prompt(req.prompt, candidates), req.system, cancel=state.cancelled)
        state.partial(("ref", ref))
        points = []
        for i, s in enumerate(req.strengths):
            if state.cancelled():
                break
            state.progress((i + 1) / n, f"Strength {s:g}")
            p = sweep_point(session, req.prompt, req.sampling, req.steering_at(s), s, ref, req.keywords,
                            req.features, req.system, cancel=state.cancelled)
            points.append(p)
            state.partial(("point", i, p))
        return ref, tuple(points)

    return fn


@dataclass(frozen=True)
class EvalRequest:
    concept: str  # a demo concept (resources/demo_features.json)
    strengths: tuple[float, ...]
    n_prompts: int = 4  # of each split
    seeds: tuple[int, ...] = (0,)
    max_new_tokens: int = 32
    baselines: bool = True
    batch: int = 16


def eval_steering_job(req: EvalRequest):
    """The whole steering evaluation (core.steer_eval.evaluate) for a demo concept, with progress and cancel; the
    result is its JSON-ready dict."""

    def fn(session, state):
        from ..core.steer_eval.data import load_concept, load_splits
        from ..core.steer_eval.evaluate import EvalSettings, evaluate_steering

        if session is None:
            raise NotReady("the model is not loaded yet")
        if session.sae is None:
            raise NotReady("the steering evaluation needs an SAE")
        concept = load_concept(req.concept)
        bad = [f for f in concept.features if not 0 <= f < session.sae.cfg.d_sae]
        if bad:
            raise NotReady(f"the concept's feature {bad[0]} is not in this SAE: demo concepts are for the bundled SAE")
        settings = EvalSettings(req.strengths, "add", req.seeds, req.max_new_tokens, baselines=req.baselines,
                                batch=req.batch)
        return evaluate_steering(session, concept, load_splits(n_prompts=req.n_prompts), settings,
                                 progress=state.progress, cancelled=state.cancelled)  # Stop: InterruptedError

    return fn
