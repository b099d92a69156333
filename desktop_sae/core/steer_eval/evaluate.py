"""The evaluation protocol (AxBench-style, proxies instead of a judge): for each strength, prompts x seeds, steered
vs default from the same seed; baselines in the same run (prompting; a mean-difference vector at matched norm);
the strength chosen on the selection split and reported on the disjoint report split."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..features.contrast import matched_strength, session_mean_difference, text_means
from ..features.contrast import nominal_shift as steer_norm
from ..steering.specs import NO_STEERING, SteeringConfig, SteerSpec, weighted_rows
from ..steering.vectors import SteeringVector
from .answers import Measured, generate_answers, measure_answers, references, summary
from .data import Concept, Splits, neutral_texts
from .reading import human_text_nll
from .scoring import FIRE_FRACTION, keyword_pattern, pick_strength

if TYPE_CHECKING:
    from ..engine.session import Session

PROMPTING = "Talk about {}."


@dataclass(frozen=True)
class EvalSettings:
    strengths: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)  # x the feature's max activation (orth: the gain)
    method: str = "add"
    seeds: tuple[int, ...] = (0,)
    max_new_tokens: int = 32
    fire_fraction: float = FIRE_FRACTION
    fluency_threshold: float | None = None  # None: human prose's NLL measured in the run
    baselines: bool = True
    batch: int = 1  # answers generated together (1: one at a time, exactly as the app makes them)


def feature_steering(concept: Concept, strength: float, method: str) -> SteeringConfig:
    members = [(f, concept.weight(i)) for i, f in enumerate(concept.features)]
    return SteeringConfig(weighted_rows(SteerSpec(concept.features[0], float(strength), "max", method), members))


def vector_steering(session: Session, vector: SteeringVector, concept: Concept, strength: float,
                    method: str) -> tuple[SteeringConfig, float]:
    """The mean-difference baseline at the feature steer's norm (additive and clamp steers), or with the same
    gain (orthogonal)."""
    if method == "orth":
        return SteeringConfig((vector.spec(-1, strength, "orth"),)), strength
    norm = steer_norm(session, feature_steering(concept, strength, method))
    raw = float(np.sign(strength)) * matched_strength(vector, norm, 1.0)
    return SteeringConfig((vector.spec(-1, raw, "add"),)), raw


def json_ready(obj: object) -> object:
    """Plain JSON: NaN and infinities become null, tuples lists, numpy scalars Python numbers."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


class _Run:
    """Generates and measures answers; default answers are made once per (split, prompt, seed)."""

    def __init__(self, session: Session, concept: Concept, settings: EvalSettings, total: int,
                 progress: Callable[[float, str], None] | None, cancelled: Callable[[], bool] | None) -> None:
        self.s, self.c, self.cfg = session, concept, settings
        self.pattern = keyword_pattern(concept.keywords)
        self.total, self.done = max(total, 1), 0
        self.progress, self.cancelled = progress, cancelled or (lambda: False)
        self.defaults: dict[tuple[str, int], Measured] = {}
        self.weights = tuple(concept.weight(i) for i in range(len(concept.features))) if concept.weights else ()

    def answers(self, prompts: Sequence[str], label: str, steering: SteeringConfig = NO_STEERING,
                system: str | None = None, cache: bool = False) -> list[Measured]:
        if self.cancelled():
            raise InterruptedError("cancelled")
        if cache and all((p, seed) in self.defaults for p in prompts for seed in self.cfg.seeds):
            return [Measured(**{**asdict(self.defaults[(p, seed)]), "prompt": i})
                    for i, p in enumerate(prompts) for seed in self.cfg.seeds]
        start = self.done

        def made(n: int) -> None:
            self.done = start + n
            if self.progress:
                self.progress(min(1.0, self.done / self.total), f"{label}: answer {self.done} of {self.total}")

        results = generate_answers(self.s, prompts, self.cfg.seeds, self.cfg.max_new_tokens, steering, system,
                                   self.cfg.batch, self.cancelled, made)
        items = [(i, seed) for i in range(len(prompts)) for seed in self.cfg.seeds]
        out = measure_answers(self.s, prompts, [(i, seed, r) for (i, seed), r in zip(items, results)], self.pattern,
                              self.c.features, self.cfg.fire_fraction, self.weights)
        if cache:
            self.defaults.update({(prompts[i], seed): m for (i, seed), m in zip(items, out)})
        return out


def evaluate_steering(session: Session, concept: Concept, splits: Splits, settings: EvalSettings = EvalSettings(),
                      progress: Callable[[float, str], None] | None = None,
                      cancelled: Callable[[], bool] | None = None) -> dict:
    """Run the whole protocol; returns a JSON-ready dict (docs/STEERING_EVAL.md describes every field)."""
    t0 = time.perf_counter()
    if not settings.strengths:
        raise ValueError("give at least one strength")
    n_sel, n_rep = len(splits.selection) * len(settings.seeds), len(splits.report) * len(settings.seeds)
    base = settings.baselines
    total = n_sel * (1 + len(settings.strengths) * (2 if base else 1)) + n_rep * (2 + (2 if base else 0))
    run = _Run(session, concept, settings, total, progress, cancelled)
    neutral = neutral_texts()
    human = human_text_nll(session, neutral) if settings.fluency_threshold is None else None
    vector = None
    if base and concept.texts:
        vector = session_mean_difference(session, text_means(session, concept.texts, cancelled=cancelled),
                                         text_means(session, concept.negatives or neutral, cancelled=cancelled),
                                         f"mean difference ({concept.name})")

    # selection split: every strength, the factor is chosen here
    sel_default = run.answers(splits.selection, "selection, default", cache=True)
    sel_refs = references(sel_default, settings.fluency_threshold, human)
    sel_rows, md_rows = [], []
    for s in settings.strengths:
        st = feature_steering(concept, s, settings.method)
        row = summary(run.answers(splits.selection, f"selection, feature x{s:g}", st), sel_refs)
        sel_rows.append({"strength": s, "steer_norm": steer_norm(session, st) if settings.method != "orth" else None,
                         **row})
        if vector is not None:
            vst, raw = vector_steering(session, vector, concept, s, settings.method)
            md_rows.append({"strength": s, "raw": raw,
                            **summary(run.answers(splits.selection, f"selection, mean difference x{s:g}", vst),
                                      sel_refs)})
    chosen = {"feature": pick_strength({r["strength"]: r["combined"] for r in sel_rows})}
    if md_rows:
        chosen["mean_difference"] = pick_strength({r["strength"]: r["combined"] for r in md_rows})

    # report split: the chosen factors, the baselines and the default answers
    rep_default = run.answers(splits.report, "report, default", cache=True)
    rep_refs = references(rep_default, settings.fluency_threshold, human)
    rep_feature = run.answers(splits.report, "report, feature",
                              feature_steering(concept, chosen["feature"], settings.method))
    report = {"default": summary(rep_default, rep_refs),
              "feature": {"strength": chosen["feature"], **summary(rep_feature, rep_refs)}}
    rep_md = rep_prompting = None
    if base:
        system = PROMPTING.format(concept.description)
        rep_prompting = run.answers(splits.report, "report, prompting", system=system)
        report["prompting"] = {"system": system, **summary(rep_prompting, rep_refs)}
    if vector is not None:
        vst, raw = vector_steering(session, vector, concept, chosen["mean_difference"], settings.method)
        rep_md = run.answers(splits.report, "report, mean difference", vst)
        report["mean_difference"] = {"strength": chosen["mean_difference"], "raw": raw, **summary(rep_md, rep_refs)}

    examples = []
    for j, d in enumerate(rep_default[:3]):
        ex = {"prompt": splits.report[d.prompt], "seed": d.seed, "default": d.text, "feature": rep_feature[j].text}
        if rep_md:
            ex["mean_difference"] = rep_md[j].text
        if rep_prompting:
            ex["prompting"] = rep_prompting[j].text
        examples.append(ex)
    return {
        "concept": {"name": concept.name, "label": concept.label, "features": list(concept.features),
                    "weights": [concept.weight(i) for i in range(len(concept.features))],
                    "n_negative_texts": len(concept.negatives or neutral),
                    "keywords": list(concept.keywords), "description": concept.description,
                    "n_concept_texts": len(concept.texts)},
        "settings": {**asdict(settings), "strength_unit": "orth gain" if settings.method == "orth" else "x max act"},
        "splits": {"selection": list(splits.selection), "report": list(splits.report)},
        "references": {"human_nll": human, "selection": asdict(sel_refs), "report": asdict(rep_refs)},
        "mean_difference_vector": None if vector is None else {"norm": vector.norm, "source": vector.source},
        "selection": {"default": summary(sel_default, sel_refs), "feature": sel_rows, "mean_difference": md_rows},
        "chosen": chosen,
        "report": report,
        "examples": examples,
        "seconds": time.perf_counter() - t0,
    }
