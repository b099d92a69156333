"""Mystery-feature quiz: each round hides one feature and offers four labels, the right one and three others.

The GUI shows where the hidden feature fires (or what steering with it writes) and the learner picks a label.
``Quiz`` keeps the score and history and is deterministic for a seed. Qt-free.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from . import paths
from .errors import DesktopSAEError


class QuizError(DesktopSAEError):
    """A quiz cannot be built from these candidates, or was used out of order."""


@dataclass(frozen=True)
class Round:
    number: int  # 1-based
    choices: tuple[str, ...]  # labels in display order; exactly one is right


@dataclass(frozen=True)
class Answer:
    number: int
    feature: int  # the hidden feature
    chosen: str
    correct_label: str
    correct: bool


class Quiz:
    """``candidates``: (feature id, label) pairs; needs at least ``n_choices`` distinct labels."""

    def __init__(self, candidates: Sequence[tuple[int, str]], seed: int = 0, rounds: int = 5, n_choices: int = 4):
        seen: dict[int, str] = {}
        for f, label in candidates:
            if not isinstance(label, str) or not label.strip():
                raise QuizError(f"feature {f} has no label")
            if f in seen:
                raise QuizError(f"feature {f} is listed twice")
            seen[int(f)] = label.strip()
        if len({lab.casefold() for lab in seen.values()}) < n_choices:
            raise QuizError(f"a quiz needs at least {n_choices} features with different labels, got {len(seen)}")
        if not 1 <= rounds <= 100:
            raise QuizError(f"rounds must be in [1, 100], got {rounds}")
        self.candidates = tuple(seen.items())
        self.rounds, self.n_choices = rounds, n_choices
        self._rng = random.Random(seed)
        self._order: list[tuple[int, str]] = []
        self._hidden: tuple[int, str] | None = None
        self._round: Round | None = None
        self._answered = True
        self.history: list[Answer] = []

    @property
    def score(self) -> int:
        return sum(a.correct for a in self.history)

    @property
    def finished(self) -> bool:
        return len(self.history) >= self.rounds and self._answered

    @property
    def current(self) -> Round | None:
        return self._round

    def next_round(self) -> Round:
        """Hide a new feature (each candidate once before any repeats) and deal its choices."""
        if not self._answered:
            raise QuizError("answer the current round first")
        if self.finished:
            raise QuizError(f"the quiz is over after {self.rounds} rounds")
        if not self._order:
            self._order = list(self.candidates)
            self._rng.shuffle(self._order)
        self._hidden = self._order.pop()
        right = self._hidden[1]
        distinct: dict[str, str] = {}  # one label per spelling, never the right one
        for _, lab in self.candidates:
            if lab.casefold() != right.casefold():
                distinct.setdefault(lab.casefold(), lab)
        choices = self._rng.sample(sorted(distinct.values()), self.n_choices - 1) + [right]
        self._rng.shuffle(choices)
        self._round = Round(len(self.history) + 1, tuple(choices))
        self._answered = False
        return self._round

    def answer(self, choice: str | int) -> Answer:
        """Score a choice (its label, or its index in ``current.choices``)."""
        if self._round is None or self._answered:
            raise QuizError("no round is waiting for an answer")
        if isinstance(choice, int) and not isinstance(choice, bool):
            if not 0 <= choice < len(self._round.choices):
                raise QuizError(f"choice {choice} is out of range")
            choice = self._round.choices[choice]
        if choice not in self._round.choices:
            raise QuizError(f"{choice!r} is not one of this round's choices")
        f, right = self._hidden
        a = Answer(self._round.number, f, choice, right, choice == right)
        self.history.append(a)
        self._answered = True
        return a

    def reveal(self) -> int:
        """The current round's hidden feature id."""
        if self._hidden is None:
            raise QuizError("no round has started")
        return self._hidden[0]


def demo_candidates(path: Path | None = None) -> list[tuple[int, str]]:
    """(feature, label) for the demo concepts measured on the bundled SAE (``resources/demo_features.json``)."""
    path = Path(path) if path is not None else paths.resources_dir() / "demo_features.json"
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return [(int(c["feature"]), str(c.get("label") or c["concept"])) for c in d["concepts"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise QuizError(f"cannot read the demo features from {path.name}: {e}") from None


_WORDY = re.compile(r"[A-Za-z]{3,}")


def labelled_candidates(labels: Mapping[int, str] | Sequence[str], n: int = 12, seed: int = 0) -> list[tuple[int, str]]:
    """Up to ``n`` random features whose labels look readable (a word of 3+ letters) and are not repeated."""
    items = labels.items() if isinstance(labels, Mapping) else enumerate(labels)
    by_label: dict[str, tuple[int, str]] = {}
    counts: dict[str, int] = {}
    for f, lab in items:
        if isinstance(lab, str) and _WORDY.search(lab):
            key = lab.strip().casefold()
            counts[key] = counts.get(key, 0) + 1
            by_label.setdefault(key, (int(f), lab.strip()))
    pool = sorted(v for k, v in by_label.items() if counts[k] == 1)
    return random.Random(seed).sample(pool, min(n, len(pool)))
