""""Why this token?" as runs: an attribution graph for one token (``core.attribution``), computed on the worker with
progress and Stop, and interventions on its feature nodes (ablate or steer one, and compare the graph's predicted
change of the target with the live model's).

The tensors stay on the worker: the jobs share a ``WorkerCache`` (the ``Attributor`` per session, the catalogs of
the depth SAEs, and the state of the latest graph), which only job functions touch. The app thread gets immutable
results: the ``AttributionGraph``, the features' names and top contexts, the candidate next tokens, an
``Intervention``. A newer graph replaces one still running (its late messages are dropped, ``JobSlot``); an
intervention names the graph it was asked on and is refused when the worker holds another one."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..core.engine.run_names import Run as AnswerRun
from ..core.support.errors import DesktopSAEError
from .conversation import Conversation, Role
from .loading import NotReadyError, with_sae
from .messages import JobKind
from .runs import Run

if TYPE_CHECKING:
    from ..core.attribution.attribute import AttributionState, Settings
    from ..core.attribution.attributor import Attributor, Candidate
    from ..core.attribution.graph import AttributionGraph, Node
    from ..core.attribution.interventions import Intervention
    from ..core.engine.session import Session
    from ..core.features.catalog import FeatureCatalog
    from ..core.features.dictionary import FeatureDictionary
    from .job_handles import Jobs
    from .jobs import JobFn, JobState
    from .model_slot import ModelSlot

N_CANDIDATES = 8  # next tokens offered as the alternative
N_CONTEXTS = 3  # top contexts of a feature shown on hover
CONTEXT_TOKENS = 12  # tokens of a context around its strongest one


class GraphGoneError(DesktopSAEError):
    """An intervention asked on a graph the worker no longer holds (a newer graph, or another model)."""


# --- requests ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prompt:
    """A context the worker tokenises: messages through the chat template (as the chat sent them) or plain text,
    then answer tokens already generated."""

    messages: tuple[tuple[str, str], ...]  # (role, content)
    system: str | None = None
    chat: bool = True
    answer_ids: tuple[int, ...] = ()  # answer tokens after the prompt, before the target
    prompt_len: int | None = None  # the prompt's length when the answer was generated (checked when given)

    def ids(self, session: Session) -> list[int]:
        msgs = [{"role": r, "content": c} for r, c in self.messages]
        ids = session.prompt_ids(msgs, self.system, self.chat)
        if self.prompt_len is not None and len(ids) != self.prompt_len:
            raise DesktopSAEError("the conversation before this answer no longer tokenises as it did (was the "
                                  "system prompt changed?); ask again and explain the new answer")
        return [*ids, *self.answer_ids]


@dataclass(frozen=True)
class GraphRequest:
    """A graph of ``target_id`` after ``context`` (or after ``prompt``, tokenised on the worker; then ``context``
    is ignored); with ``alt_id`` the target is the logit difference target − alternative."""

    context: tuple[int, ...] = ()
    target_id: int | None = None  # None: the model's most likely next token
    alt_id: int | None = None
    settings: Settings | None = None  # None: core.attribution.attribute.Settings()
    prompt: Prompt | None = None


# --- results -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureText:
    """How a feature node is shown: its name (the one naming rule) and top contexts from its dictionary."""

    name: str
    contexts: tuple[str, ...] = ()


@dataclass(frozen=True)
class GraphResult:
    graph: AttributionGraph
    graph_id: int  # the job that computed it: an intervention names it
    features: Mapping[tuple[int, int], FeatureText]  # (layer, feature) -> its name and contexts
    candidates: tuple[Candidate, ...]  # the model's likeliest next tokens after the context
    loaded_layer: int | None  # the depth of the loaded SAE (its features have dashboards), if in the graph
    warnings: tuple[str, ...] = ()  # depth SAEs left out, and why

    def text(self, node: Node) -> FeatureText:
        return self.features.get((node.layer, node.feature), FeatureText(f"#{node.feature}"))

    def name(self, node: Node) -> str:
        """A node's name: a feature's by the naming rule; a token, an error or the target by what it is."""
        from ..core.attribution.graph import NodeKind

        g = self.graph
        if node.kind is NodeKind.FEATURE:
            return self.text(node).name or f"#{node.feature}"
        if node.kind is NodeKind.TOKEN:
            return repr(g.tokens[node.position])
        if node.kind is NodeKind.ERROR:
            return f"error at layer {node.layer}"
        return repr(g.target_token) + (f" − {g.alt_token!r}" if g.alt_token is not None else "")

    def opens_dashboard(self, node: Node) -> bool:
        """A feature of the loaded SAE (the app's dashboard shows it)."""
        from ..core.attribution.graph import NodeKind

        return node.kind is NodeKind.FEATURE and node.layer == self.loaded_layer


def feature_text(catalog: FeatureCatalog | None, dictionary: FeatureDictionary | None, f: int) -> FeatureText:
    """A feature's name (user label, else explanation, else token label) and its top contexts, the strongest
    token of each in «»."""
    name = catalog.label(f) if catalog is not None and 0 <= f < catalog.d_sae else ""
    contexts: list[str] = []
    if dictionary is not None and 0 <= f < len(dictionary):
        for ex in dictionary.entry(f)["top_examples"][:N_CONTEXTS]:
            toks, vals = ex["tokens"], ex["values"]
            if not toks:
                continue
            peak = max(range(len(vals)), key=lambda i: vals[i]) if vals else 0
            lo = max(0, peak - CONTEXT_TOKENS + 3)
            contexts.append("".join(f"«{t}»" if i == peak else t
                                    for i, t in enumerate(toks[lo:lo + CONTEXT_TOKENS], lo)))
    return FeatureText(name or f"#{f}", tuple(contexts))


# --- the worker side ---------------------------------------------------------------------------------------------
class WorkerCache:
    """What the jobs keep between calls; only job functions (on the worker) read or write it. Keyed by session, so
    a new model or SAE starts afresh and the old one's tensors go with it."""

    def __init__(self) -> None:
        self.attributors: weakref.WeakKeyDictionary[Session, tuple[Attributor, tuple[str, ...]]] = \
            weakref.WeakKeyDictionary()
        self.states: weakref.WeakKeyDictionary[Session, tuple[int, AttributionState]] = weakref.WeakKeyDictionary()
        self.catalogs: dict[str, tuple[FeatureCatalog, FeatureDictionary | None]] = {}

    def attributor(self, session: Session) -> tuple[Attributor, tuple[str, ...]]:
        held = self.attributors.get(session)
        if held is None:
            from ..core.attribution.attributor import Attributor
            from ..core.features.user_labels import sae_folder

            sae = session.sae
            warnings: list[str] = []
            folder = sae_folder(sae.source_path) if sae is not None else None
            held = Attributor.for_model(session.lm, sae, folder, warnings=warnings), tuple(warnings)
            self.attributors[session] = held
        return held

    def held(self, session: Session, graph_id: int) -> AttributionState:
        """The state of graph ``graph_id``, if it is still the one the worker holds for ``session``."""
        held = self.states.get(session)
        if held is None or held[0] != graph_id:
            raise GraphGoneError("this graph is no longer the latest one; compute it again")
        return held[1]

    def catalog(self, folder: str, attributor: Attributor) -> tuple[FeatureCatalog, FeatureDictionary | None]:
        """The catalog of a depth SAE's folder, as the app builds one for the loaded SAE."""
        if folder not in self.catalogs:
            from ..core.explanations.catalogs import catalog_for

            sae = next(d.sae for d in attributor.saes if d.folder == folder)
            catalog = catalog_for(sae, folder)
            self.catalogs[folder] = catalog, catalog.dictionary
        return self.catalogs[folder]


def graph_job(request: GraphRequest, cache: WorkerCache) -> JobFn[GraphResult]:
    def fn(session: Session | None, state: JobState) -> GraphResult:
        from ..core.attribution.attribute import Settings
        from ..core.attribution.graph import NodeKind
        from ..core.features.user_labels import sae_folder

        session = with_sae(session, "an attribution graph", weights=True)
        state.progress(None, "Reading the SAEs")
        att, warnings = cache.attributor(session)
        if not att.saes:
            raise NotReadyError("no SAE here reads the residual stream, so there is nothing to build a graph on"
                                + "".join(f"; {w}" for w in warnings))
        ids = request.prompt.ids(session) if request.prompt is not None else list(request.context)
        target = request.target_id
        if target is None:
            target = att.candidates(ids, 1)[0].token_id
        graph, st = att.graph(ids, target, request.alt_id, request.settings or Settings(), state.progress,
                              state.cancelled)
        cache.states[session] = (state.job_id, st)
        candidates = tuple(att.candidates(ids, N_CANDIDATES))
        loaded = str(sae_folder(session.sae.source_path)) if session.sae is not None else None
        loaded_layer = next((d.layer for d in att.saes if d.folder is not None and d.folder == loaded), None)
        texts: dict[tuple[int, int], FeatureText] = {}
        for d in att.saes:
            if d.layer == loaded_layer or d.folder is None:
                continue  # the loaded SAE's names come from the app's catalog (the user's labels, live)
            catalog, dictionary = cache.catalog(d.folder, att)
            for n in graph.nodes:
                if n.kind is NodeKind.FEATURE and n.layer == d.layer:
                    texts[(n.layer, n.feature)] = feature_text(catalog, dictionary, n.feature)
        return GraphResult(graph, state.job_id, MappingProxyType(texts), candidates, loaded_layer, warnings)

    return fn


def intervention_job(cache: WorkerCache, graph_id: int, node: Node, value: float) -> JobFn[Intervention]:
    def fn(session: Session | None, _state: JobState) -> Intervention:
        from ..core.attribution.interventions import set_activations

        session = with_sae(session, "an intervention", weights=True)
        return set_activations(cache.held(session, graph_id), [node], [float(value)])[0]

    return fn


# --- the runs (app thread) ---------------------------------------------------------------------------------------
class InterventionRun(Run[object, "Intervention"]):
    """A feature node's activation set to a value (0: ablated) on the graph the worker holds."""

    kind = JobKind.INTERVENTION

    def __init__(self, jobs: Jobs, cache: WorkerCache):
        super().__init__(jobs)
        self.cache = cache
        self.node: Node | None = None
        self.value = 0.0

    def start(self, graph_id: int, node: Node, value: float) -> int:
        self.node, self.value = node, float(value)
        return self._start(intervention_job(self.cache, graph_id, node, value)).id


class AttributionRun(Run[object, GraphResult]):
    """The graph shown by "Why this token?": ``start(request)``; ``shown`` is the latest finished graph (kept
    while a newer one computes or after one is stopped); ``intervene`` / ``ablate`` run on ``edit``."""

    kind = JobKind.ATTRIBUTION

    def __init__(self, jobs: Jobs, model: ModelSlot):
        super().__init__(jobs)
        self.model = model
        self.cache = WorkerCache()
        self.edit = InterventionRun(jobs, self.cache)
        self.request: GraphRequest | None = None
        self.shown: GraphResult | None = None

    @property
    def graph(self) -> AttributionGraph | None:
        return self.shown.graph if self.shown is not None else None

    def start(self, request: GraphRequest) -> int:
        self.request = request
        self.edit.close()
        return self._start(graph_job(request, self.cache)).id

    def with_alternative(self, alt_id: int | None) -> int | None:
        """The shown graph again as the logit difference against ``alt_id`` (None: the target's logit alone)."""
        g = self.graph
        if g is None or alt_id == g.target_id:
            return None
        settings = self.request.settings if self.request is not None else None
        return self.start(GraphRequest(g.token_ids, g.target_id, alt_id, settings))

    def intervene(self, node: Node, value: float) -> int:
        """Set a feature node of the shown graph to ``value`` and re-run the model (result on ``edit``)."""
        if self.shown is None:
            raise GraphGoneError("no graph is shown")
        return self.edit.start(self.shown.graph_id, node, value)

    def ablate(self, node: Node) -> int:
        return self.intervene(node, 0.0)

    def close(self) -> None:
        super().close()
        self.edit.close()

    def on_result(self, result: GraphResult) -> None:
        self.result = self.shown = self._named(result)

    def on_stopped(self, result: GraphResult | None) -> None:
        if result is not None:  # it finished as Stop arrived: the worker holds it, so show it
            self.shown = self._named(result)

    def _named(self, result: GraphResult) -> GraphResult:
        """The loaded SAE's features named from the app's catalog and dictionary."""
        from ..core.attribution.graph import NodeKind

        info = self.model.info
        if result.loaded_layer is None or info is None:
            return result
        texts = dict(result.features)
        for n in result.graph.nodes:
            if n.kind is NodeKind.FEATURE and n.layer == result.loaded_layer:
                texts[(n.layer, n.feature)] = feature_text(info.catalog, info.dictionary, n.feature)
        return replace(result, features=MappingProxyType(texts))


# --- the chat's tokens -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnswerToken:
    """An answer token of the chat: which answer (run) and its position in the whole sequence."""

    run: AnswerRun
    index: int
    text: str = field(default="", compare=False)


def chat_request(conv: Conversation, token: AnswerToken, settings: Settings | None = None) -> GraphRequest:
    """The request for an answer token ("Why this token?"): the prompt its answer was asked with and the answer
    tokens before it as the context, the token as the target. ``ValueError`` (for the user) otherwise."""
    if conv.busy:
        raise ValueError("wait until the answer is finished")
    turns = conv.turns
    for k, t in enumerate(turns):
        evs = t.events.get(token.run, ()) if t.role == Role.ASSISTANT else ()
        hit = next((e for e in evs if e.index == token.index), None)
        if hit is None:
            continue
        start = evs[0].index
        before = tuple(e.token_id for e in evs if e.index < token.index)
        prompt = [conv.events.get((token.run, i)) for i in range(start)]
        if conv.events.get((token.run, start)) is evs[0] and all(e is not None and e.is_prompt for e in prompt):
            exact = tuple(e.token_id for e in prompt if e is not None)  # this answer's own prompt, as sent
            return GraphRequest((*exact, *before), hit.token_id, None, settings)
        messages = tuple((str(x.role), x.content) for x in turns[:k] if x.role != Role.ERROR)
        return GraphRequest((), hit.token_id, None, settings,
                            Prompt(messages, conv.system.strip() or None, True, before, start))
    raise ValueError("that is not a token of an answer")


def last_answer_token(conv: Conversation) -> AnswerToken | None:
    """The last answer's last token that is not a special one (the end-of-turn token is skipped)."""
    for t in reversed(conv.turns):
        if t.role != Role.ASSISTANT:
            continue
        for run in (AnswerRun.MAIN, AnswerRun.STEERED):
            evs = [e for e in t.events.get(run, ()) if not e.is_special]
            if evs:
                return AnswerToken(run, evs[-1].index, evs[-1].text)
        return None
    return None
