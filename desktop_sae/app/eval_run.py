"""The steering evaluation of a demo concept as a run (Tools → Evaluate steering…): the strength is chosen on the
selection prompts and reported on the others, against the default answers, prompting and the mean-difference
vector (``core.steer_eval``); the result is the evaluation's JSON-ready dict, which the run can save."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .job_handles import Jobs
from .loading import NotReadyError, with_sae
from .messages import JobKind
from .runs import Run

if TYPE_CHECKING:
    from ..core.engine.session import Session
    from .jobs import JobFn, JobState

EvalResult = dict[str, Any]  # core.steer_eval.evaluate.evaluate_steering's JSON-ready result


@dataclass(frozen=True)
class EvalRequest:
    concept: str  # a demo concept (resources/demo_features.json)
    strengths: tuple[float, ...]
    n_prompts: int = 4  # of each split
    seeds: tuple[int, ...] = (0,)
    max_new_tokens: int = 32
    baselines: bool = True
    batch: int = 16


def eval_steering_job(req: EvalRequest) -> JobFn[EvalResult]:
    """The whole steering evaluation for a demo concept, with progress and cancel."""

    def fn(session: Session | None, state: JobState) -> EvalResult:
        from ..core.steer_eval.data import load_concept, load_splits
        from ..core.steer_eval.evaluate import EvalSettings, evaluate_steering

        session = with_sae(session, "the steering evaluation", weights=True)
        assert session.sae is not None
        concept = load_concept(req.concept)
        bad = [f for f in concept.features if not 0 <= f < session.sae.cfg.d_sae]
        if bad:
            raise NotReadyError(f"the concept's feature {bad[0]} is not in this SAE: demo concepts are for the bundled "
                                "SAE")
        settings = EvalSettings(req.strengths, "add", req.seeds, req.max_new_tokens, baselines=req.baselines,
                                batch=req.batch)
        return evaluate_steering(session, concept, load_splits(n_prompts=req.n_prompts), settings,
                                 progress=state.progress, cancelled=state.cancelled)  # Stop: InterruptedError

    return fn


class EvalRun(Run[object, EvalResult]):
    kind = JobKind.EVAL

    def __init__(self, jobs: Jobs):
        super().__init__(jobs)
        self.request: EvalRequest | None = None

    def start(self, req: EvalRequest) -> int:
        self.request = req
        return self._start(eval_steering_job(req)).id

    def save(self, path: str | Path) -> Path:
        """Write the result as JSON (atomically); OSError when it cannot be written."""
        from ..core.steer_eval.evaluate import json_ready
        from ..core.support.atomic import atomic_write_text

        if self.result is None:
            raise OSError("there is no result to save yet")
        path = Path(path)
        atomic_write_text(path, json.dumps(json_ready(self.result), ensure_ascii=False, indent=1) + "\n")
        return path
