"""A lesson's ``trace`` step as runs: the step's prompt and the start of the answer tokenised on the worker (and its
alternative token checked to be one token), then — after the graph view has built the graph — the graph's strongest
feature node with a positive effect ablated, with the model's new top answer token named.

The lesson never names a feature id: the node is chosen at run time (``strongest_positive``). The same functions
serve ``packaging/lessons/measure_tracing.py``, so the lesson plays what was measured."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.support.errors import DesktopSAEError
from .loading import with_sae
from .messages import JobKind
from .runs import Run

if TYPE_CHECKING:
    from ..core.attribution.graph import AttributionGraph, Node
    from ..core.attribution.interventions import Intervention
    from ..core.classroom.lessons import LessonStep
    from ..core.engine.session import Session
    from .attribution_run import WorkerCache
    from .job_handles import Jobs
    from .jobs import JobFn, JobState


class TraceError(DesktopSAEError):
    """A trace step cannot be played (its alternative is not one token, the graph has no positive feature)."""


# --- tokens (any thread that holds the tokenizer: the worker, a script) ------------------------------------------
def trace_ids(tokenizer: Any, prompt: str, answer: str, system: str | None = None) -> list[int]:
    """The context of a trace: the user's ``prompt`` through the chat template, then the start of the answer."""
    from ..core.engine.chat_prompt import answer_context_ids

    return answer_context_ids(tokenizer, [{"role": "user", "content": prompt}], answer, system)


def one_token(tokenizer: Any, text: str) -> int:
    """The id of ``text`` when it is exactly one token (as written inside an answer), else ``TraceError``."""
    from ..core.engine.chat_prompt import answer_ids

    ids = answer_ids(tokenizer, text)
    if len(ids) != 1:
        raise TraceError(f"the alternative {text!r} is {len(ids)} tokens, not one; choose a one-token word "
                         "(a leading space usually belongs to it: ' cold')")
    return ids[0]


def strongest_positive(graph: AttributionGraph) -> Node | None:
    """The feature node with the largest positive effect on the target (the one a lesson ablates)."""
    from ..core.attribution.graph import NodeKind

    best = max((n for n in graph.nodes if n.kind is NodeKind.FEATURE and n.effect > 0), key=lambda n: n.effect,
               default=None)
    return best


# --- the runs ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TraceContext:
    ids: tuple[int, ...]  # the chat template around the prompt, then the start of the answer
    alt_id: int | None


@dataclass(frozen=True)
class Ablation:
    node: Node
    intervention: Intervention
    top_before: str  # the model's answer token before the edit (the graph's target)
    top_after: str  # the model's answer token with the feature ablated


def context_job(prompt: str, answer: str, system: str | None, alt: str | None) -> JobFn[TraceContext]:
    def fn(session: Session | None, _state: JobState) -> TraceContext:
        session = with_sae(session, "an attribution graph", weights=True)
        tok = session.lm.tokenizer
        return TraceContext(tuple(trace_ids(tok, prompt, answer, system)), None if alt is None else one_token(tok, alt))

    return fn


def ablate_job(cache: WorkerCache, graph_id: int, node: Node) -> JobFn[Ablation]:
    """``node`` ablated on the graph the worker holds, and the model's new top token decoded."""

    def fn(session: Session | None, _state: JobState) -> Ablation:
        from ..core.attribution.interventions import set_activations

        session = with_sae(session, "an intervention", weights=True)
        held = cache.held(session, graph_id)
        iv = set_activations(held, [node], [0.0])[0]
        tok = session.lm.tokenizer
        return Ablation(node, iv, str(tok.decode([held.target.token_id])), str(tok.decode([iv.top_after])))

    return fn


class TraceContextRun(Run[object, TraceContext]):
    """Tokenises a trace step's context on the worker (the app thread holds no tokenizer)."""

    kind = JobKind.ATTRIBUTION  # a step of the graph: a newer graph replaces it

    def start(self, step: LessonStep) -> int:
        args = step.action_args
        return self._start(context_job(step.prompt or "", str(args["answer"]), step.system, args.get("alt"))).id


class AblationRun(Run[object, Ablation]):
    """The lesson's ablation of the graph's strongest positive feature node."""

    kind = JobKind.INTERVENTION

    def __init__(self, jobs: Jobs, cache: WorkerCache):
        super().__init__(jobs)
        self.cache = cache

    def start(self, graph_id: int, node: Node) -> int:
        return self._start(ablate_job(self.cache, graph_id, node)).id


def ablation_text(a: Ablation, target_prob: float, tokens: Sequence[str] = ()) -> str:
    """'predicted Δ −2.1 / actual Δ −1.8 logits; p(" Paris") 71% → 12%; the answer is now " Rome" (40%)'."""
    iv = a.intervention
    at = f" at {tokens[a.node.position]!r}" if 0 <= a.node.position < len(tokens) else ""
    changed = "now" if a.top_after != a.top_before else "still"
    return (f"feature #{a.node.feature} (layer {a.node.layer}{at}) ablated: predicted Δ {iv.predicted:+.2f} / "
            f"actual Δ {iv.actual:+.2f}; p({a.top_before!r}) {100 * target_prob:.1f}% → {100 * iv.after_prob:.1f}%; "
            f"the answer token is {changed} {a.top_after!r} ({100 * iv.top_after_prob:.1f}%)")
