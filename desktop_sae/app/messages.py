"""Typed, frozen messages the job runner puts on its outbox (worker thread → app thread).

Every job ends with exactly one of ``JobDone``, ``JobFailed`` or ``JobCancelled``; before that it may post any
number of ``JobProgress`` and ``JobPartial`` messages. Payloads are immutable snapshots (frozen dataclasses, tuples,
read-only numpy arrays): the worker never shares a mutable object with the app thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.support.text_enum import TextEnum


class JobKind(TextEnum):
    """What a job is; submitting one cancels the queued and running jobs of the same kind (newest wins)."""

    LOAD = "load"  # a model and SAE, or another SAE
    GENERATE = "generate"  # an answer (or side by side), or a lesson's sweep into the chat
    LOGITS = "logits"  # a feature's promoted and suppressed tokens
    SWEEP = "sweep"  # the strength-sweep dialog
    EVAL = "eval"  # the steering evaluation
    CONTRAST = "contrast"  # the contrastive finder
    SPAN = "span"  # features on a selection of the chat
    NEURON = "neuron"  # the neuron view
    TOY_SUPERPOSITION = "toy_superposition"
    TOY_SAE = "toy_sae"
    TOY_RAINBOW = "toy_rainbow"
    DOWNLOAD = "download"  # a model or SAE from the hub
    TRAIN_SAE = "train-sae"
    EXPLAIN = "explain"  # explaining and scoring features with a chat endpoint
    ATTRIBUTION = "attribution"  # an attribution graph ("Why this token?")
    INTERVENTION = "intervention"  # a feature node of the graph ablated or steered, the model re-run
    NEURONPEDIA_EXPLANATIONS = "neuronpedia-explanations"  # an SAE's explanations fetched or imported
    EXPORT_STEERING = "export-steering"  # the steering set written as a llama.cpp control vector or a vector file


@dataclass(frozen=True)
class JobMessage:
    job_id: int
    kind: JobKind


@dataclass(frozen=True)
class JobStarted(JobMessage):
    pass


@dataclass(frozen=True)
class JobProgress(JobMessage):
    fraction: float | None  # None: unknown
    message: str


@dataclass(frozen=True)
class JobPartial(JobMessage):
    payload: object  # e.g. a TokenEvent, a training-curve point; the job's handle knows its type


@dataclass(frozen=True)
class JobDone(JobMessage):
    result: Any  # the job's return value; the job's handle knows its type


@dataclass(frozen=True)
class JobFailed(JobMessage):
    message: str


@dataclass(frozen=True)
class JobCancelled(JobMessage):
    result: Any = None  # what the job had finished when it stopped, if it returned something


TERMINAL = (JobDone, JobFailed, JobCancelled)
