"""Strict parsing of explainer and scorer answers: anything else raises ``MalformedAnswerError`` (retried)."""

from __future__ import annotations

import json
import re

from . import protocol


class MalformedAnswerError(ValueError):
    """An answer that does not follow the format asked for."""


_EXPLANATION = re.compile(r"^\s*explanation\s*:\s*(.+?)\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^```[a-z]*\s*|\s*```$")


def parse_explanation(text: str) -> str:
    """The phrase of the single ``Explanation: ...`` line (other lines are allowed only when empty)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    hits = [m.group(1) for ln in lines if (m := _EXPLANATION.match(ln))]
    if len(lines) != 1 or len(hits) != 1:
        raise MalformedAnswerError(f"expected one line 'Explanation: ...', got {text[:200]!r}")
    phrase = hits[0].strip()
    if len(phrase) > 1 and phrase[0] == phrase[-1] == '"' and phrase.count('"') == 2:
        phrase = phrase[1:-1].strip()  # the whole phrase in quotes
    words = len(phrase.split())
    if not phrase or words > protocol.MAX_WORDS_ACCEPTED:
        raise MalformedAnswerError(f"an explanation must have 1..{protocol.MAX_WORDS_ACCEPTED} words, got {words}")
    return phrase


def parse_verdicts(text: str, n: int) -> tuple[bool, ...]:
    """A list of exactly ``n`` zeros and ones (a surrounding code fence is tolerated)."""
    body = _FENCE.sub("", text.strip()).strip()
    try:
        values = json.loads(body)
    except ValueError:
        raise MalformedAnswerError(f"expected a list of {n} 0s and 1s, got {text[:200]!r}") from None
    if not isinstance(values, list) or len(values) != n or any(type(v) is not int or v not in (0, 1)
                                                                 for v in values):
        raise MalformedAnswerError(f"expected a list of {n} 0s and 1s, got {text[:200]!r}")
    return tuple(bool(v) for v in values)
