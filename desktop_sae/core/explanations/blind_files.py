"""Scoring without an endpoint (docs/EXPLANATIONS.md, "Scoring offline"): the scorer prompts written to plain-text
files, one folder per scorer, for people or LLM agents to answer blind, and their answers read back into the score
store under the same strict rules.

Blindness: a scorer's file shows only opaque item ids, the explanation and the examples; which feature and which
variant (own, random other, token label) an item belongs to, and the right answers, are in ``key.json`` beside the
scorer folders, never in them. Each feature's variants go to different scorers, so no scorer sees the same
contexts twice; items are shuffled within each file."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..support.atomic import atomic_write_text
from . import protocol
from .answers import MalformedAnswerError, parse_verdicts
from .contexts import ContextBank
from .prompts import DETECTION_SYSTEM, FUZZING_SYSTEM, batches, scorer_messages
from .runs import explanation_for, scorable, scoring_samples
from .stats import Confusion
from .store import ExplanationStore, FeatureScore, ScoreStore, now

KEY = "key.json"
KEY_FORMAT = "desktop-sae-blind-score-key"
PART = 60  # prompts per part file


@dataclass(frozen=True)
class BlindPrompt:
    id: str  # opaque: what the scorer sees
    scorer: int  # which scorer's folder (0-based)
    feature: int
    variant: protocol.Variant
    kind: protocol.Scorer
    explanation: str
    truths: tuple[bool, ...]
    user: str  # the prompt's user message
    ranks: tuple[int, ...] = ()  # per example: its window's place among the feature's activating scoring contexts


def plan_blind_prompts(bank: ContextBank, features: Sequence[int], variants: Sequence[protocol.Variant],
                       explanations: ExplanationStore, labels: Mapping[int, str], n_scorers: int,
                       seed: int = 0) -> list[BlindPrompt]:
    """Every scorer prompt of every (feature, variant), on the same samples as the endpoint path
    (``runs.scoring_samples``). Variant ``i`` of the ``j``-th feature goes to scorer ``(i + j) % n_scorers``."""
    if n_scorers < len(variants):
        raise ValueError(f"{len(variants)} variants need at least as many scorers (got {n_scorers}), so that no "
                         "scorer sees a feature's contexts twice")
    out: list[BlindPrompt] = []
    for j, f in enumerate(sorted(dict.fromkeys(features))):
        fc = bank.contexts(f)
        if not scorable(fc):
            continue
        samples = scoring_samples(fc, seed)
        rank = {c.window: n for n, c in enumerate(fc.score_activating)}  # strongest first: one per quantile bin
        for i, v in enumerate(variants):
            text = explanation_for(v, f, explanations, labels, seed)
            if text is None:
                continue
            for kind, ss in samples.items():
                for b in batches(ss):
                    user = scorer_messages(kind, text, b)[1]["content"]
                    out.append(BlindPrompt("", (i + j) % n_scorers, f, v, kind, text, tuple(s.truth for s in b),
                                           user, tuple(rank.get(s.window, -1) for s in b)))
    # opaque ids, assigned after a seeded shuffle within each scorer
    final: list[BlindPrompt] = []
    for k in range(n_scorers):
        mine = [p for p in out if p.scorer == k]
        order = np.random.default_rng([seed, 7, k]).permutation(len(mine))
        final += [BlindPrompt(f"S{k + 1}-{n + 1:05d}", k, mine[o].feature, mine[o].variant, mine[o].kind,
                              mine[o].explanation, mine[o].truths, mine[o].user, mine[o].ranks)
                  for n, o in enumerate(order)]
    return final


def write_blind_files(prompts: Sequence[BlindPrompt], folder: str | Path) -> dict[int, Path]:
    """``folder/S<k>/INSTRUCTIONS.txt`` and ``part_NNN.txt`` per scorer, and ``folder/key.json`` (the answers: keep it
    away from the scorers). Returns each scorer's folder."""
    root = Path(folder)
    head = ("Blind scoring, protocol " + protocol.PROTOCOL_VERSION + ". Each item is marked (detection) or (fuzzing).\n"
            "Detection items: " + DETECTION_SYSTEM + "\n\nFuzzing items: " + FUZZING_SYSTEM + "\n\nAnswer each item on "
            "its own line of answers.tsv: ID<TAB>[1,0,...] with one 0 or 1 per example, in order.\n")
    dirs: dict[int, Path] = {}
    for k in sorted({p.scorer for p in prompts}):
        d = dirs[k] = root / f"S{k + 1}"
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_text(d / "INSTRUCTIONS.txt", head)
        mine = [p for p in prompts if p.scorer == k]
        for n in range(0, len(mine), PART):
            blocks = [f"=== {p.id} ({p.kind}) ===\n{p.user}\n" for p in mine[n : n + PART]]
            atomic_write_text(d / f"part_{n // PART + 1:03d}.txt", "\n".join(blocks))
    key = {"format": KEY_FORMAT, "protocol": protocol.PROTOCOL_VERSION,
           "items": {p.id: {"scorer": p.scorer, "feature": p.feature, "variant": str(p.variant), "kind": str(p.kind),
                            "explanation": p.explanation, "truths": [int(t) for t in p.truths],
                            "ranks": list(p.ranks)} for p in prompts}}
    atomic_write_text(root / KEY, json.dumps(key, ensure_ascii=False))
    return dirs


@dataclass(frozen=True)
class BlindReadSummary:
    stored: int  # (feature, variant) scores stored
    failed: int  # recorded as failed (a malformed answer)
    incomplete: int  # some of their prompts not answered yet: left for a later read


def _answers(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            item, tab, answer = line.partition("\t")
            if not tab:
                raise ValueError(f"{path}:{n}: expected ID<TAB>[0,1,...]")
            out[item.strip()] = answer.strip()
    return out


def key_and_answers(folder: str | Path) -> tuple[dict[str, Any], dict[str, str]]:
    """A blind folder's key and every scorer's answers so far (item id -> answer text)."""
    root = Path(folder)
    key = json.loads((root / KEY).read_text(encoding="utf-8"))
    if key.get("format") != KEY_FORMAT or not str(key.get("protocol", "")).startswith("desktop-sae-explain/"):
        raise ValueError(f"{root / KEY} is not a blind-score key")
    answers: dict[str, str] = {}
    for k in sorted({int(it["scorer"]) for it in key["items"].values()}):
        answers.update(_answers(root / f"S{k + 1}" / "answers.tsv"))
    return key, answers


def read_blind_answers(folder: str | Path, store: ScoreStore, scorer_name: str) -> BlindReadSummary:
    """Read ``folder/S<k>/answers.tsv`` for every scorer against ``folder/key.json`` and store each (feature,
    variant) whose prompts are all answered, under the protocol the key was written with; ``scorer_name`` may
    contain ``{k}`` (the scorer's number). A malformed answer fails that (feature, variant) as a whole; nothing is
    stored half."""
    key, answers = key_and_answers(folder)
    items = key["items"]
    groups: dict[tuple[int, str], list[str]] = {}
    for item_id, it in items.items():
        groups.setdefault((int(it["feature"]), str(it["variant"])), []).append(item_id)
    stored = failed = incomplete = 0
    for (f, v), ids in sorted(groups.items()):
        if not all(i in answers for i in ids):
            incomplete += 1
            continue
        conf = {s: Confusion() for s in protocol.Scorer}
        try:
            for i in ids:
                truths = [bool(t) for t in items[i]["truths"]]
                verdicts = parse_verdicts(answers[i], len(truths))
                kind = protocol.Scorer(items[i]["kind"])
                conf[kind] = conf[kind] + Confusion.of(truths, verdicts)
        except MalformedAnswerError as e:
            store.fail(protocol.Variant(v), f, f"malformed answer: {e}")
            failed += 1
            continue
        first = items[ids[0]]
        name = scorer_name.replace("{k}", str(int(first["scorer"]) + 1))
        store.put(protocol.Variant(v), f, FeatureScore(str(first["explanation"]), name,
                                                       conf[protocol.Scorer.DETECTION], conf[protocol.Scorer.FUZZING],
                                                       str(key["protocol"]), now()))
        stored += 1
    store.save()
    return BlindReadSummary(stored, failed, incomplete)


def recall_by_rank(folder: str | Path) -> dict[str, dict[str, Any]]:
    """Per variant, from the answered detection prompts of a blind folder: the share of positives answered 1 at
    each rank (0 = the strongest scoring context, one per quantile bin) and the share of negatives answered 1."""
    key, answers = key_and_answers(folder)
    items = key["items"]
    hits: dict[str, dict[int, list[int]]] = {}
    for item_id, it in items.items():
        if it["kind"] != str(protocol.Scorer.DETECTION) or item_id not in answers:
            continue
        try:
            verdicts = parse_verdicts(answers[item_id], len(it["truths"]))
        except MalformedAnswerError:
            continue
        per = hits.setdefault(str(it["variant"]), {})
        ranks = it.get("ranks") or [-2 if t else -1 for t in it["truths"]]  # -2: a positive of unknown rank
        for rank, said in zip(ranks, verdicts):
            cell = per.setdefault(int(rank), [0, 0])
            cell[0] += int(said)
            cell[1] += 1
    return {v: {"recall_by_rank": [round(per[r][0] / per[r][1], 4) if r in per else None
                                   for r in range(protocol.N_SCORE_ACTIVATING)],
                "positives_by_rank": [per.get(r, [0, 0])[1] for r in range(protocol.N_SCORE_ACTIVATING)],
                "recall": _share([c for r, c in per.items() if r != -1]),
                "false_positive_rate": _share([per[-1]] if -1 in per else [])}
            for v, per in sorted(hits.items())}


def _share(cells: Sequence[list[int]]) -> float | None:
    n = sum(c[1] for c in cells)
    return round(sum(c[0] for c in cells) / n, 4) if n else None
