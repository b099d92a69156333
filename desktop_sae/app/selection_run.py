"""Features on a selection of the chat as a run: the features most active over exactly the selected tokens of an
answer, read in their conversation (no steering), or over a selected text read on its own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.engine.run_names import Run as AnswerRun
from .conversation import Role, Turn
from .discover import DiscoverError
from .job_handles import Jobs
from .loading import with_sae
from .messages import JobKind
from .runs import Run

if TYPE_CHECKING:
    from ..core.engine.session import Session
    from ..core.features.readout import TextFeatures
    from .jobs import JobFn, JobState

TOP = 20


@dataclass(frozen=True)
class SpanRequest:
    """A span of one assistant answer: the conversation before it, the answer's tokens, the selected positions."""

    messages: tuple[dict[str, str], ...]
    system: str | None
    prompt_len: int  # position of the answer's first token in the sequence it was generated in
    answer_ids: tuple[int, ...]
    start: int  # sequence positions start..end-1
    end: int
    text: str  # the selected tokens' text (for the title)


def span_request(turns: tuple[Turn, ...], system: str, run: AnswerRun, indices: Iterable[int]) -> SpanRequest:
    """The request for the selected token positions ``indices`` of one answer of ``run``; refuses a selection
    across answers or outside any finished answer."""
    picked = sorted(set(int(i) for i in indices))
    if not picked:
        raise DiscoverError("select some tokens of an answer first")
    for k, turn in enumerate(turns):
        evs = turn.events.get(run) if turn.role == Role.ASSISTANT else None
        if not evs:
            continue
        have = {ev.index for ev in evs}
        if picked[0] not in have:
            continue
        if not set(picked) <= have:
            raise DiscoverError("the selection spans more than one message: select tokens of one answer")
        messages = tuple({"role": str(t.role), "content": t.content} for t in turns[:k] if t.role != Role.ERROR)
        start, end = picked[0], picked[-1] + 1
        text = "".join(ev.text for ev in evs if start <= ev.index < end)
        return SpanRequest(messages, system.strip() or None, evs[0].index, tuple(ev.token_id for ev in evs), start,
                           end, text)
    raise DiscoverError("the selection is not in a finished answer")


def span_job(req: SpanRequest, top: int = TOP) -> JobFn[TextFeatures]:
    """``core.features.readout.features_on_span`` over the answer's tokens in their conversation (no steering)."""

    def fn(session: Session | None, _state: JobState) -> TextFeatures:
        from ..core.features.readout import features_on_span

        session = with_sae(session, "reading the features of a selection")
        prompt = session.prompt_ids(list(req.messages), req.system)
        if len(prompt) != req.prompt_len:
            raise DiscoverError("the conversation or the system prompt changed since this answer was written; "
                                "regenerate it to read its features in context")
        return features_on_span(session, [*prompt, *req.answer_ids], req.start, req.end, top)

    return fn


def text_job(text: str, top: int = TOP) -> JobFn[TextFeatures]:
    """Features of a plain text read on its own (a selection that holds no answer tokens)."""

    def fn(session: Session | None, _state: JobState) -> TextFeatures:
        from ..core.features.readout import features_on_text

        session = with_sae(session, "reading the features of a text")
        return features_on_text(session, text, top)

    return fn


class SelectionRun(Run[object, "TextFeatures"]):
    kind = JobKind.SPAN

    def __init__(self, jobs: Jobs):
        super().__init__(jobs)
        self.text = ""  # what was selected
        self.how = ""  # how it is read: in its conversation, or on its own

    def start_span(self, req: SpanRequest) -> int:
        self.text, self.how = req.text, "read in their conversation, without steering"
        return self._start(span_job(req)).id

    def start_text(self, text: str) -> int:
        self.text, self.how = text, "read as plain text on its own (no answer tokens selected)"
        return self._start(text_job(text)).id
