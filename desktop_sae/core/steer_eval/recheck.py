"""The steering re-check on prompts and seeds the demo table never saw.

The demo table (``run_demo_eval.py``) chose each concept's strength on the selection prompts and reported it on the
report prompts, seeds 0 and 1. A re-check that replays those prompts and seeds replays answers already known to be
on concept, so it cannot fail. This module holds everyday prompts that are in neither split nor in the concept
questions, in two disjoint halves:

* ``CALIBRATION_PROMPTS`` × ``CALIBRATION_SEEDS`` measure each concept's on-concept rate once, on a larger sample
  (``run_demo_eval.py --recheck``, written to ``docs/results/steer_eval/checks/recheck.json``);
* ``DRAW_PROMPTS`` are never measured there: the integration test draws prompts from them and seeds from
  ``DRAW_SEEDS`` afresh on every run, and asserts at least :func:`min_hits` on-concept answers, the count that a
  concept steering at the calibrated rate (its lower confidence bound) misses with probability at most ``ALPHA``.

The prompt lists were written and committed before any answer to them was generated.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..steering.specs import NO_STEERING, SteeringConfig
from .scoring import keyword_hits, keyword_pattern

if TYPE_CHECKING:
    from ..engine.session import Session
    from .data import Concept

CALIBRATION_PROMPTS = (
    "How do I get better at drawing?",
    "What should I cook for a quick weeknight dinner?",
    "Write a short note asking a neighbour to water my plants.",
    "How can I make my mornings less rushed?",
    "What is a nice thing to do on a long train journey?",
    "Describe a quiet library on a weekday afternoon.",
    "How do I start keeping a journal?",
    "What are some ways to cheer up a friend?",
    "Suggest a simple plan for a family day out.",
    "How can I make a boring chore more fun?",
    "Tell me something interesting about clouds.",
    "What should I write in a card for a new baby?",
    "How do I stop procrastinating on small tasks?",
    "Write two sentences about a summer evening.",
    "What is a good way to welcome a new neighbour?",
    "How can I spend less time on my phone?",
    "Give me an idea for a weekend breakfast.",
    "What makes a good friend?",
    "How do I keep a tidy wardrobe?",
    "Describe a market square on a Saturday.",
)

DRAW_PROMPTS = (
    "How can I feel more awake in the afternoon?",
    "What is a good game to play with children?",
    "Write a short message congratulating a friend on a new job.",
    "How do I get ready for a long walk?",
    "What should I think about before adopting a pet?",
    "Describe a seaside town in winter.",
    "How can I be a better listener?",
    "What are some tips for a tidy kitchen?",
    "Suggest a relaxing way to spend a Friday night.",
    "How do I plan a small dinner party?",
    "Tell me something interesting about rivers.",
    "What is a kind way to say no to an invitation?",
    "How can I make a long meeting less tiring?",
    "Write two sentences about the first snow.",
    "What should I do on my first morning in a new town?",
    "How do I keep my bicycle in good shape?",
    "Give me an idea for a gift for a teacher.",
    "What makes a good holiday?",
    "How can I drink more water during the day?",
    "Describe a park just after the rain.",
)

CALIBRATION_SEEDS = (100, 101, 102)
DRAW_SEEDS = (1000, 1_000_000)  # a seed is drawn from this half-open range: none of them was used to calibrate
ALPHA = 0.005  # the chance that a concept steering at its calibrated rate fails the re-check by bad luck
CONFIDENCE = 0.95  # the calibrated rate is the lower bound of this Clopper-Pearson interval


@dataclass(frozen=True)
class Tally:
    """On-concept answers (a concept keyword present), steered and default from the same prompt and seed."""

    concept: str
    strength: float
    n: int
    steered: int
    default: int | None  # None: the default answers were not generated
    answers: tuple[dict, ...] = ()


def tally(session: Session, concept: Concept, steering: SteeringConfig, strength: float,
          pairs: Sequence[tuple[str, int]], max_new_tokens: int = 32, with_default: bool = True) -> Tally:
    """Answer each (prompt, seed) steered (and, ``with_default``, unsteered from the same seed) with the app's
    sampling defaults and count the answers with a concept keyword."""
    from ..engine.sampling import SamplingConfig

    pat = keyword_pattern(concept.keywords)
    steered = default = 0
    answers = []
    for prompt, seed in pairs:
        s = SamplingConfig(seed=seed, max_new_tokens=max_new_tokens)
        a = session.generate(prompt, s, steering).text
        hit_a = bool(keyword_hits(a, pat))
        row: dict = {"prompt": prompt, "seed": seed, "steered": a, "steered_on_concept": hit_a}
        if with_default:
            b = session.generate(prompt, s, NO_STEERING).text
            row.update(default=b, default_on_concept=bool(keyword_hits(b, pat)))
            default += row["default_on_concept"]
        steered += hit_a
        answers.append(row)
    return Tally(concept.name, strength, len(pairs), steered, default if with_default else None, tuple(answers))


def draw(n_prompts: int, n_seeds: int, rng: random.Random) -> list[tuple[str, int]]:
    """``n_prompts`` distinct draw prompts × ``n_seeds`` distinct seeds from ``DRAW_SEEDS`` (never calibrated)."""
    prompts = rng.sample(DRAW_PROMPTS, n_prompts)
    seeds = rng.sample(range(*DRAW_SEEDS), n_seeds)
    return [(p, s) for p in prompts for s in seeds]


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    return min(1.0, sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(min(k, n) + 1)))


def rate_lower_bound(k: int, n: int, confidence: float = CONFIDENCE) -> float:
    """The one-sided Clopper-Pearson lower bound of a rate seen as ``k`` of ``n`` (bisection on the binomial tail)."""
    if k <= 0:
        return 0.0
    lo, hi = 0.0, k / n
    for _ in range(60):  # P(X >= k | p) = 1 - confidence at the bound
        mid = (lo + hi) / 2
        if 1 - _binom_cdf(k - 1, n, mid) < 1 - confidence:
            lo = mid
        else:
            hi = mid
    return lo


def min_hits(rate: float, n: int, alpha: float = ALPHA) -> int:
    """The most on-concept answers out of ``n`` that a concept steering at ``rate`` reaches with probability at
    least 1 - ``alpha``: the re-check's pass mark."""
    return max((k for k in range(n + 1) if _binom_cdf(k - 1, n, rate) <= alpha), default=0)


DRAW_N_PROMPTS, DRAW_N_SEEDS = 8, 2  # the integration test's draw per concept: 16 steered answers
N_CONCEPTS = 2


def recheck_concepts(demo: dict[str, dict], n: int = N_CONCEPTS) -> list[dict]:
    """The ``n`` demo concepts with the largest keyword gain over the default answers on the demo table's report
    split (their measured blocks in demo_features.json), strongest first."""
    def gain(c: dict) -> float:
        m = c.get("measured") or {}
        return float(m.get("feature", {}).get("keyword_share", 0.0)) - float(m.get("default", {}).get("keyword_share",
                                                                                                    0.0))
    entries = [dict(e, concept=name) for name, e in demo.items() if isinstance(e, dict) and "strength" in e]
    return sorted(entries, key=gain, reverse=True)[:n]


def calibration_summary(rows: Sequence[dict], n_draw: int = DRAW_N_PROMPTS * DRAW_N_SEEDS) -> dict:
    """Per concept: answers on concept steered and default, the steered rate's lower confidence bound, and the pass
    mark of a draw of ``n_draw`` answers at that rate."""
    out: dict = {"confidence": CONFIDENCE, "alpha": ALPHA, "draw_answers": n_draw}
    for r in rows:
        k, n = r["steered_on_concept"], r["n"]
        low = rate_lower_bound(k, n)
        out[r["concept"]] = {"steered_on_concept": f"{k}/{n}", "default_on_concept": f"{r['default_on_concept']}/{n}",
                             "steered_rate": round(k / n, 4), "steered_rate_lower_bound": round(low, 4),
                             "pass_mark": f"{min_hits(low, n_draw)}/{n_draw}", "strength_x_max": r["strength_x_max"]}
    return out
