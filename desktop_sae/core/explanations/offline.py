"""Explaining without an endpoint: the explainer prompts written to a JSON-lines file for someone (a person, or an
agent acting as the explainer) to answer, and their answers read back under the same strict rules, recorded with
method ``human`` and the explainer's name (docs/EXPLANATIONS.md, "Explaining offline")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..support.atomic import atomic_write_text
from . import protocol
from .answers import MalformedAnswerError, parse_explanation
from .contexts import ContextBank
from .prompts import explainer_messages
from .store import Explanation, ExplanationStore, now


def write_explainer_prompts(bank: ContextBank, features: Sequence[int], path: str | Path) -> int:
    """One line per live feature: ``{"feature", "protocol", "messages"}``; returns how many."""
    lines = [json.dumps({"feature": f, "protocol": protocol.PROTOCOL_VERSION,
                         "messages": explainer_messages(bank.contexts(f))}, ensure_ascii=False)
             for f in dict.fromkeys(features) if bank.is_live(f)]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def write_explainer_text(bank: ContextBank, features: Sequence[int], path: str | Path) -> int:
    """The same prompts as plain text for reading: the instructions once, then each live feature's message under
    ``=== feature N ===``. Answers go one per line as ``N<TAB>Explanation: ...``. Returns how many."""
    blocks = []
    for f in dict.fromkeys(features):
        if bank.is_live(f):
            system, user = explainer_messages(bank.contexts(f))
            blocks.append(f"=== feature {f} ===\n{user['content']}\n")
    head = (f"Protocol {protocol.PROTOCOL_VERSION}. Instructions for every feature below:\n"
            f"{explainer_messages(bank.contexts(features[0]))[0]['content'] if blocks else ''}\n"
            "Answer each feature on its own line of the answers file: N<TAB>Explanation: <phrase>\n\n")
    atomic_write_text(path, head + "\n".join(blocks))
    return len(blocks)


def _answer_line(line: str) -> tuple[int, object]:
    """``{"feature": N, "answer": "..."}`` or ``N<TAB>Explanation: ...``."""
    if line.lstrip().startswith("{"):
        rec = json.loads(line)
        return int(rec["feature"]), rec["answer"]
    number, _, answer = line.partition("\t")
    if not answer:
        raise ValueError("no tab after the feature number")
    return int(number), answer


def read_explainer_answers(path: str | Path, store: ExplanationStore, explainer: str,
                           method: protocol.Method = protocol.Method.HUMAN) -> tuple[int, int]:
    """Read ``{"feature": int, "answer": "Explanation: ..."}`` or ``N<TAB>Explanation: ...`` lines into ``store``
    (saved once at the end).
    A malformed answer or line is recorded as that feature's failure. Returns (stored, failed)."""
    stored = failed = 0
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            f, answer = _answer_line(line)
            if not isinstance(answer, str):
                raise TypeError("the answer is not text")
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{n}: expected {{\"feature\": int, \"answer\": str}} or N<TAB>answer "
                             f"({e})") from None
        try:
            store.put(f, Explanation(parse_explanation(answer), method, explainer, protocol.PROTOCOL_VERSION, now()))
            stored += 1
        except MalformedAnswerError as e:
            store.fail(f, f"malformed answer: {e}")
            failed += 1
    store.save()
    return stored, failed
