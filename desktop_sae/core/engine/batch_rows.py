"""What a batch of answers is made of (core/engine/batch_generation.py makes them): a row to answer
(``BatchRow``: prompt ids, sampling, steering) and its answer (``BatchAnswer``). Torch-free, so the app and the CLI
can build rows and name the batch size before the engine loads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..steering.specs import NO_STEERING, SteeringConfig
from .sampling import SamplingConfig

DEFAULT_CHUNK = 16  # rows answered together: a 9-strength sweep and its default answer in one batch


@dataclass(frozen=True)
class BatchRow:
    """One answer to make: its prompt's token ids, sampling and steering."""

    prompt_ids: tuple[int, ...]
    sampling: SamplingConfig
    steering: SteeringConfig = NO_STEERING


@dataclass(frozen=True)
class BatchAnswer:
    """A row's answer: its tokens and text (no per-token readouts) and why it ended."""

    prompt_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]
    text: str
    stop_reason: str  # 'eos' | 'max_tokens' | 'cancelled'


AnswerFn = Callable[[int, BatchAnswer], None]  # (row index, its answer) as each row ends
