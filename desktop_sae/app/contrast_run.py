"""The contrastive finder as a run: positive texts against negative texts, read by the model, rank the SAE's
features by how much more they fire on the positives, with the mean-difference vector between the two sets and the
top features as a weighted set (``core.features.contrast``). Progress per text; Stop before the next text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .discover import check_texts
from .job_handles import Jobs
from .loading import with_sae
from .messages import JobKind
from .runs import Run

if TYPE_CHECKING:
    from ..core.engine.session import Session
    from ..core.features.contrast import ContrastResult
    from .jobs import JobFn, JobState

TOP = 50  # features listed


def contrast_job(positives: Sequence[str], negatives: Sequence[str], top: int = TOP) -> JobFn[ContrastResult | None]:
    """Rank the SAE's features by how much more they fire on ``positives``; checks the texts before it starts."""
    pos, neg = check_texts(positives, negatives)

    def fn(session: Session | None, state: JobState) -> ContrastResult | None:
        from ..core.features.contrast import contrast

        session = with_sae(session, "the contrastive finder")
        try:
            return contrast(session, pos, neg, top, state.progress, state.cancelled)
        except InterruptedError:
            return None

    return fn


class ContrastRun(Run[object, "ContrastResult | None"]):
    kind = JobKind.CONTRAST

    def __init__(self, jobs: Jobs):
        super().__init__(jobs)
        self.n_texts = 0

    def start(self, positives: Sequence[str], negatives: Sequence[str], top: int = TOP) -> int:
        """Start a search (a new one replaces one still running); ``DiscoverError`` for unusable texts."""
        fn = contrast_job(positives, negatives, top)
        self.n_texts = len(positives) + len(negatives)
        return self._start(fn).id

    def forget(self) -> None:
        """The SAE changed: the last result's feature ids mean nothing now."""
        self.result = None
