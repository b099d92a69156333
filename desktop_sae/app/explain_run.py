"""Explaining and scoring the loaded SAE's features with an OpenAI-compatible chat endpoint as a run (Tools →
Explain features…; docs/EXPLANATIONS.md). One job on the worker reads the contexts (it needs the model), then makes
the HTTP calls; the files go beside the SAE, so a cancelled run keeps what is done and the next one resumes. When a
run ends, ``ModelSlot.reload_explanations`` tells whoever shows explanations to read them again."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.explanations import protocol
from ..core.explanations.client import ChatSettings
from ..core.explanations.store import ExplanationStore, Failure, ScoreStore
from ..core.support.errors import DesktopSAEError
from ..core.support.text_enum import TextEnum
from .loading import with_sae
from .messages import JobKind
from .runs import Run

if TYPE_CHECKING:
    from ..core.engine.session import Session
    from ..core.explanations.contexts import ContextBank
    from ..core.explanations.runs import RunSummary
    from .job_handles import Jobs
    from .jobs import JobFn, JobState
    from .model_slot import ModelSlot

READ_SHARE = 0.2  # of the progress bar: reading the contexts; the calls share the rest
SCORE_CALLS_PER_FEATURE = 2 * math.ceil((protocol.N_SCORE_ACTIVATING + protocol.N_SCORE_NON_ACTIVATING)
                                        / protocol.EXAMPLES_PER_CALL)  # at most, both scorers


class FeatureChoice(TextEnum):
    """Which features a run does."""

    ALL = "all"
    RANGE = "range"  # e.g. 1,5,10-20
    PINNED = "pinned"


def choose_features(choice: FeatureChoice, d_sae: int, text: str = "", pinned: Sequence[int] = ()
                    ) -> tuple[int, ...]:
    """The features of a choice; ``ValueError`` (written for the user) when there are none or some are not in the
    SAE."""
    from ..core.support.prompt_file import parse_seeds

    if choice is FeatureChoice.ALL:
        return tuple(range(d_sae))
    try:
        chosen = tuple(pinned) if choice is FeatureChoice.PINNED else tuple(parse_seeds(text))
    except ValueError:
        raise ValueError(f"features {text!r}: give a range (0-99) or a list (3,7,12)") from None
    if not chosen:
        raise ValueError("no pinned features: pin some in the feature list" if choice is FeatureChoice.PINNED
                         else "give features, e.g. 0-99 or 3,7,12")
    bad = [f for f in chosen if not 0 <= f < d_sae]
    if bad:
        raise ValueError(f"feature {bad[0]} is not in this SAE (0–{d_sae - 1})")
    return chosen


@dataclass(frozen=True)
class ExplainRequest:
    settings: ChatSettings
    features: tuple[int, ...]
    folder: str  # where explanations.json and explanation_scores.json are (the SAE's folder)
    explain: bool = True
    score: bool = False  # the features' own explanations, both blind scorers
    windows: int = 2048  # context windows of protocol.WINDOW tokens read from the built-in corpus
    seed: int = 0


@dataclass(frozen=True)
class ExplainOutcome:
    explained: RunSummary | None
    scored: RunSummary | None
    error: str | None = None  # a failed call's reason, when any call failed
    gave_up: bool = False  # the first calls all failed: the endpoint is not answering, so the run stopped
    dead: frozenset[int] = frozenset()  # the requested features never active in the contexts read

    @property
    def failed(self) -> int:
        return sum(s.failed for s in (self.explained, self.scored) if s is not None)

    def describe(self) -> str:
        """One line for the user: what was done, what failed and why."""
        parts = [f"{what} {s.done}, failed {s.failed}, skipped {s.skipped}"
                 for what, s in (("explained", self.explained), ("scored", self.scored)) if s is not None]
        calls = sum(s.calls for s in (self.explained, self.scored) if s is not None)
        counts = "; ".join(parts) + f" ({calls} calls)"
        if self.gave_up:
            return f"The endpoint did not answer well, so the run stopped: {counts}. {self.error}"
        return counts[0].upper() + counts[1:] + "." + (f" Last failure: {self.error}" if self.failed and self.error
                                                       else "")


def estimate_calls(req: ExplainRequest, dead: frozenset[int] = frozenset()) -> int:
    """Calls the run will make at most when every answer is good the first time (``dead`` features, known once the
    contexts were read, make none): one per feature to explain, and the scorers' calls per feature to score."""
    from ..core.explanations.runs import explain_call_estimate

    features = [f for f in dict.fromkeys(req.features) if f not in dead]
    explanations = ExplanationStore.beside(req.folder)
    n = explain_call_estimate(features, explanations) if req.explain else 0
    if req.score:
        done = ScoreStore.beside(req.folder).done(protocol.Variant.OWN)
        n += SCORE_CALLS_PER_FEATURE * sum(1 for f in features if f not in done
                                           and (req.explain or f in explanations.explanations))
    return n


class _Stages:
    """Progress of the stages of one run on one bar, and the give-up rule: when a stage's first calls all fail
    (nothing succeeded and ``at_least`` features failed), the endpoint is not answering and the run stops
    rather than wait through every feature's tries."""

    def __init__(self, state: JobState, req: ExplainRequest):
        self.state = state
        self.at_least = max(2, req.settings.parallel)  # a whole group of calls, and never a single failure
        self.calls_share = (1.0 - READ_SHARE) / max(1, req.explain + req.score)
        self.base = 0.0
        self.gave_up = False

    def reading(self, fraction: float, message: str) -> None:
        self.state.progress(READ_SHARE * fraction, f"reading contexts: {message}")

    def start(self, message: str) -> None:
        self.base = READ_SHARE + self.calls_share if self.base else READ_SHARE
        self.state.progress(self.base, message)

    def watch(self, done: Callable[[], int], failures: Callable[[], dict[int, Failure]]
              ) -> Callable[[float, str], None]:
        """The progress callback of one stage: ``done()`` counts its successes, ``failures()`` is the store's."""
        n0, before = done(), dict(failures())

        def progress(fraction: float, message: str) -> None:
            self.state.progress(self.base + self.calls_share * fraction, message)
            failed = sum(1 for f, x in failures().items() if before.get(f) is not x)
            self.gave_up = self.gave_up or (done() == n0 and failed >= self.at_least)

        return progress

    def stop(self) -> bool:
        return self.state.cancelled() or self.gave_up


def _bank(session: Session, req: ExplainRequest, stages: _Stages, cache: dict[tuple[Any, ...], ContextBank]
          ) -> ContextBank:
    from ..core.explanations.corpus_windows import read_contexts

    assert session.sae is not None and session.hook_name is not None
    key = (id(session.sae), session.lm.name, req.folder, session.hook_name, req.windows, req.seed)
    if key not in cache:
        cache.clear()  # one bank at a time: it holds the activations of every window
        cache[key] = read_contexts(session.lm.model, session.lm.tokenizer, session.sae, session.hook_name,
                                   req.windows, req.seed, skip_ids=session.special_ids, progress=stages.reading,
                                   cancel=stages.state.cancelled)
    return cache[key]


def explain_job(req: ExplainRequest, cache: dict[tuple[Any, ...], ContextBank]) -> JobFn[ExplainOutcome]:
    """The whole run on the worker. ``cache`` keeps the last context bank between runs (only this job reads or
    writes it, and only on the worker)."""

    def fn(session: Session | None, state: JobState) -> ExplainOutcome:
        from ..core.explanations.client import ChatClient
        from ..core.explanations.runs import (
            explain_call_estimate,
            explain_features,
            score_call_estimate,
            score_explanations,
        )

        session = with_sae(session, "explaining features", weights=True)
        assert session.sae is not None
        if any(not 0 <= f < session.sae.cfg.d_sae for f in req.features):
            raise DesktopSAEError(f"features must lie in 0..{session.sae.cfg.d_sae - 1}")
        stages = _Stages(state, req)
        bank = _bank(session, req, stages, cache)
        client = ChatClient(req.settings)
        where = f"{req.settings.endpoint} ({req.settings.model})"
        explained = scored = None
        explanations = ExplanationStore.beside(req.folder)
        errors: list[str] = []
        if req.explain:
            explanations.sae = {"d_sae": bank.d_sae, "hook_name": session.hook_name, "windows": len(bank.windows),
                                "seed": req.seed}
            stages.start(f"about {explain_call_estimate(req.features, explanations, bank)} calls to {where}")
            progress = stages.watch(lambda: len(explanations.explanations), lambda: explanations.failures)
            explained = explain_features(bank, req.features, client, explanations, progress, stages.stop)
            errors += [explanations.failures[f].error for f in req.features if f in explanations.failures]
        if req.score and not stages.gave_up:
            scores, own = ScoreStore.beside(req.folder), [protocol.Variant.OWN]
            stages.start(f"about {score_call_estimate(bank, req.features, own, scores, explanations, seed=req.seed)} "
                         f"calls to {where}")
            progress = stages.watch(lambda: len(scores.done(own[0])), lambda: scores.failures.get(own[0], {}))
            scored = score_explanations(bank, req.features, own, client, explanations, scores, seed=req.seed,
                                        progress=progress, cancel=stages.stop)
            errors += [x.error for f, x in scores.failures.get(own[0], {}).items() if f in req.features]
        dead = frozenset(f for f in req.features if not bank.is_live(f))
        return ExplainOutcome(explained, scored, errors[-1] if errors else None, stages.gave_up, dead)

    return fn


class ExplainRun(Run[object, ExplainOutcome]):
    """The run of Tools → Explain features…; when it ends (done or cancelled) the SAE's explanations are reloaded."""

    kind = JobKind.EXPLAIN

    def __init__(self, jobs: Jobs, model: ModelSlot):
        super().__init__(jobs)
        self.model = model
        self.request: ExplainRequest | None = None
        self.outcome: ExplainOutcome | None = None  # also what a cancelled run had done
        self._banks: dict[tuple[Any, ...], ContextBank] = {}  # touched only by the job, on the worker
        self._dead: dict[tuple[str, int, int], frozenset[int]] = {}

    def start(self, req: ExplainRequest) -> int:
        self.request = req
        return self._start(explain_job(req, self._banks)).id

    def estimate(self, req: ExplainRequest) -> int:
        """``estimate_calls``, without the dead features found by the last run on the same contexts."""
        return estimate_calls(req, self._dead.get(_contexts_key(req), frozenset()))

    def on_started(self) -> None:
        self.outcome = None

    def on_result(self, result: ExplainOutcome) -> None:
        self.on_stopped(result)

    def on_stopped(self, result: ExplainOutcome | None) -> None:
        self.outcome = result
        if result is not None and self.request is not None:
            key = _contexts_key(self.request)
            self._dead = {key: self._dead.get(key, frozenset()) | result.dead}
        self.model.reload_explanations()


def _contexts_key(req: ExplainRequest) -> tuple[str, int, int]:
    return req.folder, req.windows, req.seed
