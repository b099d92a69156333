"""The whole recipe from text to a finished SAE: tokenise → collect → train → dictionary → evaluate.

Every stage keeps its work on disk under ``PipelineConfig.work_dir`` (tokens, activation store, trainer checkpoint),
so running the pipeline again after a crash or a cancellation resumes where it stopped and finished stages are
skipped. One progress protocol for all stages: ``progress(fraction, message)`` with ``fraction`` rising from 0 to 1
within each stage (or None when unknown) and ``message`` starting with the stage name; ``cancelled()`` is checked
per tokenised batch of documents, collection batch, training step, dictionary batch and evaluation batch, and a
cancellation raises ``core.support.errors.Cancelled`` after saving what can be resumed. ``metrics(TrainProgress)``, if
given, receives the training curve (loss, L0, explained variance, dead fraction) every ``log_every`` steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..features.dictionary import FeatureDictionary
from ..sae.autoencoder import SAE
from ..sae.formats import save_sae
from ..sae.sae_config import FeatureStats
from ..support.errors import Cancelled
from .activation_store import ActivationStore, collect
from .corpus import CorpusError, TokenizedCorpus, read_documents, tokenize_corpus
from .dictionary_builder import build_dictionary
from .sae_evaluation import evaluate, write_eval
from .trainer import TopKTrainer, TrainConfig, TrainProgress, train

if TYPE_CHECKING:
    from ..engine.models import LoadedModel

STAGES = ("tokenise", "collect", "train", "dictionary", "evaluate")
TOKENS_FILE = "tokens.npz"
HELDOUT_FILE = "heldout_tokens.npz"  # beside the SAE: held-out contexts for a later ``eval-sae``

ProgressFn = Callable[[float | None, str], None]
CancelledFn = Callable[[], bool]
MetricsFn = Callable[[TrainProgress], None]


@dataclass(frozen=True)
class PipelineConfig:
    out: str | Path  # the finished SAE folder (SAELens format + dictionary + eval.json)
    corpus: tuple[str, ...] = ()  # text files, folders or .jsonl files; unused once WORK/tokens.npz exists
    hook: str = "blocks.12.hook_resid_post"
    width: int = 4608  # latents (d_sae)
    k: int = 32
    tokens: int = 2_000_000  # training tokens (several epochs if more than were collected)
    collect_tokens: int | None = None  # activations to collect (default: ``tokens``)
    batch_size: int = 4096
    collect_batch_size: int = 16  # contexts per collection forward pass (a cancellation waits for one)
    ctx: int = 128  # context length in tokens
    lr: float | None = None  # default: TrainConfig.learning_rate()
    held_out: float = 0.02  # fraction of documents kept for evaluation
    eval_tokens: int = 16_384
    eval_batch_size: int = 8  # held-out contexts per evaluation step (a cancellation waits for one step)
    split_chars: int | None = None  # cut plain-text files into documents of at most this many characters
    log_every: int = 10  # training steps per progress report and metrics point
    dictionary: bool = True
    dictionary_rows: int | None = None  # activation rows the dictionary scans (default: all)
    work: str | Path | None = None  # tokens, activations, checkpoints (default: OUT/.train)
    store: str = "acts"  # activation store folder inside the work folder
    run: str = "run"  # trainer checkpoint folder inside the work folder
    device: str | None = None  # where the SAE trains (default: the model's device)
    train_options: Mapping[str, Any] = field(default_factory=dict)  # further TrainConfig fields
    metadata: Mapping[str, Any] = field(default_factory=dict)  # extra entries for the SAE's cfg.json metadata

    @property
    def work_dir(self) -> Path:
        return Path(self.work) if self.work else Path(self.out) / ".train"


@dataclass(frozen=True)
class PipelineResult:
    out: Path
    sae: SAE
    dictionary: FeatureDictionary | None
    evaluation: dict | None  # None when the corpus has no held-out contexts


class _Job:
    """A stage's view of the caller's progress and cancellation callbacks."""

    def __init__(self, progress: ProgressFn | None, cancelled: CancelledFn | None) -> None:
        self.progress = progress or (lambda fraction, message: None)
        self.cancelled = cancelled or (lambda: False)

    def report(self, stage: str) -> ProgressFn:
        return lambda fraction, message: self.progress(fraction, f"{stage}: {message}")

    def check(self, stage: str) -> None:
        if self.cancelled():
            raise Cancelled(f"training was cancelled during {stage}; run it again to resume")


def tokenise(lm: LoadedModel, cfg: PipelineConfig, progress: ProgressFn | None = None,
             cancelled: CancelledFn | None = None) -> TokenizedCorpus:
    """Read and tokenise the corpus into WORK/tokens.npz (or load it from there)."""
    job, path = _Job(progress, cancelled), cfg.work_dir / TOKENS_FILE
    job.check("tokenise")
    say = job.report("tokenise")
    if path.exists():
        tc = TokenizedCorpus.load(path)
    else:
        if not cfg.corpus:
            raise CorpusError(f"no corpus given and no tokenised corpus in {cfg.work_dir}")
        say(0.0, "reading and tokenising the corpus")
        tc = tokenize_corpus(read_documents(cfg.corpus, split_chars=cfg.split_chars), lm.tokenizer, ctx_len=cfg.ctx,
                             held_out=cfg.held_out, progress=say, cancelled=job.cancelled)
        both = np.concatenate([tc.train, tc.held_out])
        if cfg.held_out > 0 and 0 in (len(tc.train), len(tc.held_out)) and len(both) >= 2:  # few, long documents
            n = max(1, round(cfg.held_out * len(both)))
            tc = replace(tc, train=both[:-n], held_out=both[-n:])
            say(1.0, f"the documents fell on one side of the held-out split: {n} contexts kept aside for evaluation")
        path.parent.mkdir(parents=True, exist_ok=True)
        tc.save(path)
    say(1.0, f"{len(tc.train)} training contexts, {len(tc.held_out)} held-out, tokens by source {tc.sources}")
    if len(tc.train) == 0:
        raise CorpusError(f"the corpus is too small for one training context of {cfg.ctx} tokens")
    job.check("tokenise")
    return tc


def collect_activations(lm: LoadedModel, cfg: PipelineConfig, tc: TokenizedCorpus, progress: ProgressFn | None = None,
                        cancelled: CancelledFn | None = None) -> ActivationStore:
    """Collect activations at the hook into WORK/<store> (resumes an incomplete store, skips a complete one)."""
    job, folder = _Job(progress, cancelled), cfg.work_dir / cfg.store
    say = job.report("collect")
    if not (folder / "meta.json").exists() or not ActivationStore(folder).meta.get("complete"):
        collect(lm.model, tc.train, cfg.hook, folder, bos_id=tc.bos_id, max_tokens=cfg.collect_tokens or cfg.tokens,
                batch_size=cfg.collect_batch_size,
                progress=lambda p: say(p.done / max(p.total, 1),
                                       f"{p.done}/{p.total} tokens {p.rate:.0f} tok/s ETA {p.eta_s:.0f}s"),
                cancel=job.cancelled, model_sha256=lm.sha256, model_name=lm.name)
        job.check("collect")
    store = ActivationStore(folder)
    say(1.0, f"{store.n_tokens} activations stored")
    return store


def train_sae(store: ActivationStore, cfg: PipelineConfig, device: str, progress: ProgressFn | None = None,
              cancelled: CancelledFn | None = None, metrics: MetricsFn | None = None) -> TopKTrainer:
    """Train (or resume training) a TopK SAE on ``device``; checkpoints in WORK/<run>."""
    job = _Job(progress, cancelled)
    say = job.report("train")
    tcfg = TrainConfig(**{"d_sae": cfg.width, "k": cfg.k, "batch_size": min(cfg.batch_size, store.n_tokens),
                          "total_tokens": cfg.tokens, "lr": cfg.lr, "device": device, **cfg.train_options})

    def report(p: TrainProgress) -> None:
        if metrics is not None:
            metrics(p)
        say(p.tokens / p.total_tokens, f"step {p.step} loss {p.loss:.4f} EV {p.explained_variance:.3f} "
            f"L0 {p.l0:.1f} dead {100 * p.dead_fraction:.1f}% {p.tokens_per_s:.0f} tok/s ETA {p.eta_s:.0f}s")

    tr = train(store, tcfg, cfg.work_dir / cfg.run, cancel=job.cancelled, progress=report, log_every=cfg.log_every)
    job.check("train")
    return tr


def package(lm: LoadedModel, cfg: PipelineConfig, tr: TopKTrainer, store: ActivationStore, tc: TokenizedCorpus,
            progress: ProgressFn | None = None, cancelled: CancelledFn | None = None) -> PipelineResult:
    """Write the SAE into OUT with its statistics, feature dictionary, held-out tokens and evaluation."""
    job, out = _Job(progress, cancelled), Path(cfg.out)
    typical = float(store.sample(20_000).norm(dim=1).mean())
    meta = {"model_sha256": lm.sha256, "typical_norm": typical, "context_size": int(tc.train.shape[1]),
            "prepend_bos": True, "training_tokens": tr.tokens, "unique_training_tokens": store.n_tokens,
            **cfg.metadata}
    sae = tr.to_sae(cfg.hook, lm.name, meta)
    sae.to(lm.device)  # beside the model for the dictionary and evaluation; save_sae writes CPU tensors
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / HELDOUT_FILE, held_out=tc.held_out[:256], bos_id=np.int64(tc.bos_id))
    dictionary = None
    if cfg.dictionary:
        dictionary = build_dictionary(sae, store, lm.tokenizer, lm.model.get_output_embeddings().weight, out,
                                      max_rows=cfg.dictionary_rows, progress=job.report("dictionary"),
                                      cancel=job.cancelled)
        a = dictionary.a
        sae.stats = FeatureStats(a["max_activation"], a["mean_activation"], a["density"])
    save_sae(sae, out)
    res = None
    if len(tc.held_out):
        res = evaluate(lm.model, sae, tc.held_out, cfg.hook, tc.bos_id, batch_size=cfg.eval_batch_size,
                       max_tokens=cfg.eval_tokens, progress=job.report("evaluate"), cancel=job.cancelled)
        if dictionary is not None:
            res["dead_fraction_training_scan"] = float((dictionary.a["density"] == 0).mean())
        write_eval(out, res)
    return PipelineResult(out, sae, dictionary, res)


def run_pipeline(lm: LoadedModel, cfg: PipelineConfig, progress: ProgressFn | None = None,
                 cancelled: CancelledFn | None = None, metrics: MetricsFn | None = None) -> PipelineResult:
    """Text to finished SAE with ``lm`` (a ``core.engine.models.LoadedModel``); see the module docstring."""
    tc = tokenise(lm, cfg, progress, cancelled)
    store = collect_activations(lm, cfg, tc, progress, cancelled)
    tr = train_sae(store, cfg, cfg.device or str(lm.device), progress, cancelled, metrics)
    return package(lm, cfg, tr, store, tc, progress, cancelled)
