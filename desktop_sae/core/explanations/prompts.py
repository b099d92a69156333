"""Chat messages for the explainer and the two blind scorers (docs/EXPLANATIONS.md), and the scorers' samples.

Messages are OpenAI chat messages (``{"role", "content"}``). The wording is ours; what the scorers are asked and
how their samples are made follows EleutherAI's delphi (detection; fuzzing of activating contexts)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import protocol
from .contexts import Context, FeatureContexts

Message = dict[str, str]

EXPLAINER_SYSTEM = (
    "You explain one feature of a sparse autoencoder trained on a language model's activations. You see text "
    "contexts where the feature fires: each token on which it fires is between << and >>, followed by its "
    "activation on a 2-10 scale relative to the feature's strongest activation. The strongest contexts come first, "
    "then contexts from across its whole range. Work out what the marked tokens have in common in all of them, "
    "the weaker ones too (the tokens themselves and the context they are in; if it fires on several distinct "
    "tokens, name them) and, if given, what the feature makes the model say next. Answer with exactly one line:\n"
    f"Explanation: <a phrase of at most {protocol.MAX_WORDS} words>\n"
    f"If you see no pattern you can name, answer: Explanation: {protocol.NO_PATTERN}")

DETECTION_SYSTEM = (
    "You judge whether a feature of a language model is present in text. You get the feature's explanation and "
    "numbered text examples. For each example, in order, answer 1 if the feature as explained occurs in it and 0 "
    "if not. Reply with a Python list of 0s and 1s, one per example, and nothing else, e.g. [1,0,0,1,0].")

FUZZING_SYSTEM = (
    "You check highlights in text. You get a feature's explanation and numbered text examples in which some tokens "
    "are between << and >>. An example is correct only if every highlighted token is one the explanation "
    "describes. For each example, in order, answer 1 if it is correct and 0 if not. Reply with a Python list of "
    "0s and 1s, one per example, and nothing else, e.g. [1,0,0,1,0].")


def _show(token: str) -> str:
    return token.replace("\n", "\\n")


def marked_text(ctx: Context, scale: float) -> str:
    """The context with each firing token (value >= FIRE_FRACTION x ``scale``) as ``<<tok>>(level)``: level =
    10 x value / scale, rounded, in 1..10."""
    out = []
    for t, v in zip(ctx.tokens, ctx.values):
        if v > 0 and v >= protocol.FIRE_FRACTION * scale:
            level = max(1, min(10, int(10 * v / scale + 0.5))) if scale > 0 else 1
            out.append(f"{protocol.LEFT}{_show(t)}{protocol.RIGHT}({level})")
        else:
            out.append(_show(t))
    return "".join(out)


def explainer_messages(fc: FeatureContexts) -> list[Message]:
    """What the explainer sees for a feature: explaining contexts only (never the held-out scoring ones)."""
    lines = [f"Feature {fc.feature}. Fires on {100 * fc.density:.3g}% of tokens.", "",
             "Strongest contexts:"]
    lines += [f"{i + 1}. {marked_text(c, fc.max_activation)}" for i, c in enumerate(fc.explain_top)]
    if fc.explain_quantile:
        lines += ["", "Contexts from across its range of activations (weaker to middling):"]
        lines += [f"{i + 1}. {marked_text(c, fc.max_activation)}" for i, c in enumerate(fc.explain_quantile)]
    if fc.promoted:
        lines += ["", "Output tokens it promotes: " + ", ".join(repr(t) for t in fc.promoted),
                  "Output tokens it suppresses: " + ", ".join(repr(t) for t in fc.suppressed)]
    return [{"role": "system", "content": EXPLAINER_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


@dataclass(frozen=True)
class Sample:
    """One scorer example: its text and whether the right answer is 1."""

    text: str
    truth: bool
    window: int


def _highlighted(ctx: Context, marked: set[int]) -> str:
    """The context with each run of consecutive ``marked`` tokens between one pair of markers (as delphi does)."""
    out = []
    for i, t in enumerate(ctx.tokens):
        if i in marked and i - 1 not in marked:
            out.append(protocol.LEFT)
        out.append(_show(t))
        if i in marked and i + 1 not in marked:
            out.append(protocol.RIGHT)
    return "".join(out)


def detection_samples(fc: FeatureContexts, rng: np.random.Generator) -> list[Sample]:
    """Held-out activating and non-activating contexts as plain text, shuffled."""
    s = [Sample("".join(map(_show, c.tokens)), True, c.window) for c in fc.score_activating]
    s += [Sample("".join(map(_show, c.tokens)), False, c.window) for c in fc.score_non_activating]
    return [s[i] for i in rng.permutation(len(s))]


def fuzzing_samples(fc: FeatureContexts, rng: np.random.Generator) -> list[Sample]:
    """delphi's fuzzing of activating contexts: each held-out activating context once with its activating tokens
    (value >= HIGHLIGHT_THRESHOLD x the context's maximum) highlighted, and once with ``n`` random tokens below that
    threshold highlighted instead, ``n`` = ceil(mean count of firing tokens per context); shuffled."""
    ctxs = fc.score_activating
    if not ctxs:
        return []
    floor = protocol.FIRE_FRACTION * fc.max_activation
    n_wrong = math.ceil(sum(sum(v > 0 and v >= floor for v in c.values) for c in ctxs) / len(ctxs))
    s = []
    for c in ctxs:
        cut = protocol.HIGHLIGHT_THRESHOLD * c.max_value
        right = {i for i, v in enumerate(c.values) if v >= cut and v > 0}
        below = [i for i, v in enumerate(c.values) if v < cut or v <= 0]
        s.append(Sample(_highlighted(c, right), True, c.window))
        if below:
            wrong = {int(i) for i in rng.choice(below, size=min(n_wrong, len(below)), replace=False)}
            s.append(Sample(_highlighted(c, wrong), False, c.window))
    return [s[i] for i in rng.permutation(len(s))]


def batches(samples: Sequence[Sample], size: int = protocol.EXAMPLES_PER_CALL) -> list[list[Sample]]:
    return [list(samples[i : i + size]) for i in range(0, len(samples), size)]


def scorer_messages(scorer: protocol.Scorer, explanation: str, samples: Sequence[Sample]) -> list[Message]:
    system = DETECTION_SYSTEM if scorer is protocol.Scorer.DETECTION else FUZZING_SYSTEM
    body = [f"Feature explanation: {explanation}", "", "Examples:"]
    body += [f"Example {i}: {s.text}" for i, s in enumerate(samples)]
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(body)}]
