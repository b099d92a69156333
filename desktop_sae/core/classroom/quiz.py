"""The mystery-feature quiz: each round hides one feature among four labelled choices; the class reads the
steered answer, picks a label, and the score is kept. Pure logic, deterministic on a seed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class QuizRound:
    number: int  # 1-based
    hidden: int  # the feature steering the answer
    choices: tuple[tuple[int, str], ...]  # four (feature, label), in display order
    correct: int  # index of the hidden feature in ``choices``


class Quiz:
    def __init__(self, candidates: Sequence[tuple[int, str]], rounds: int = 3, seed: int = 0) -> None:
        """``candidates``: (feature id, label) pairs with distinct labels; at least four."""
        seen, pool = set(), []
        for f, label in candidates:
            if label and label not in seen:
                seen.add(label)
                pool.append((int(f), str(label)))
        if len(pool) < 4:
            raise ValueError(f"a quiz needs at least 4 features with distinct labels, got {len(pool)}")
        self.pool, self.rounds = pool, max(1, int(rounds))
        self.rng = random.Random(seed)
        self.order = self.rng.sample(range(len(pool)), k=len(pool))
        self.current: QuizRound | None = None
        self.score = 0
        self.history: list[tuple[QuizRound, int, bool]] = []  # (round, chosen index, right?)

    @property
    def done(self) -> bool:
        return len(self.history) >= self.rounds and (self.current is None or self.answered)

    @property
    def answered(self) -> bool:
        return bool(self.history) and self.history[-1][0] is self.current

    def next_round(self) -> QuizRound | None:
        """The next round (None when all are played); hidden features do not repeat until the pool runs out."""
        n = len(self.history)
        if n >= self.rounds:
            return None
        hidden = self.order[n % len(self.order)]
        others = self.rng.sample([i for i in range(len(self.pool)) if i != hidden], k=3)
        picks = [hidden, *others]
        self.rng.shuffle(picks)
        self.current = QuizRound(n + 1, self.pool[hidden][0], tuple(self.pool[i] for i in picks), picks.index(hidden))
        return self.current

    def answer(self, choice: int) -> bool:
        """Score the current round once; later answers to the same round change nothing."""
        r = self.current
        if r is None or self.answered:
            raise RuntimeError("no open round to answer")
        if not 0 <= choice < len(r.choices):
            raise ValueError(f"choice must be 0..{len(r.choices) - 1}")
        right = choice == r.correct
        self.score += right
        self.history.append((r, choice, right))
        return right

    def reveal(self) -> int:
        if self.current is None:
            raise RuntimeError("no round yet")
        return self.current.hidden
