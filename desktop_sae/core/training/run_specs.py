"""Training runs the app starts: what one asks for (``RunSpec``), where it works and where the SAE ends up.

A run works in ``data_dir()/sae-training/<name>/`` (``run.json`` with its spec, the corpus it built, tokens,
activations, trainer checkpoints, the SAE being packaged in ``sae/``), so a cancelled or failed run resumes from
there. When it completes, the finished SAE folder moves in one rename to ``data_dir()/saes/<name>/`` — every
folder there with a ``cfg.json`` is a trained SAE the app can open — and the work folder is deleted (its
activation store can take gigabytes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

from ..engine.hooks import parse_hook_name
from ..support import paths
from ..support.atomic import atomic_write_text
from ..support.errors import DesktopSAEError
from .builtin_corpus import chars_for_tokens
from .pipeline import PipelineConfig

SAES, WORK, SPEC_FILE, CORPUS, STAGING = "saes", "sae-training", "run.json", "corpus", "sae"
CORPUS_SUMMARY = "corpus.json"  # the built-in recipe's documents and characters per source
HELD_OUT = 0.05  # fraction of documents kept for the evaluation
SPLIT_CHARS = 4000  # plain-text files are cut into documents of this size, so one file still has a held-out part
MIN_TOKENS = 2048
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class TrainingSetupError(DesktopSAEError):
    """A training request that cannot run as given (name, sizes, corpus, model)."""


def saes_dir() -> Path:
    """Trained SAEs, one folder each (``cfg.json`` inside marks a finished one)."""
    return paths.data_dir() / SAES


def work_root() -> Path:
    return paths.data_dir() / WORK


def training_devices() -> tuple[str, ...]:
    """Where an SAE can train here: the CPU, and CUDA and MPS when torch sees them."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return ("cpu",) + (("cuda",) if torch.cuda.is_available() else ()) + (
        ("mps",) if mps is not None and mps.is_available() else ())


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:100]


def default_name(model: str, hook: str, width: int, when: datetime | None = None) -> str:
    """``<model>-L<layer>[-<site>]-w<width>-<yyyymmdd-hhmm>``, made unique among SAEs and unfinished runs."""
    hp = parse_hook_name(hook)
    site = "" if hp.site == "hook_resid_post" else "-" + hp.site.removeprefix("hook_")
    base = safe_name(f"{model}-L{hp.layer}{site}-w{width}-{(when or datetime.now()):%Y%m%d-%H%M}") or "sae"
    name, n = base, 2
    while (saes_dir() / name).exists() or (work_root() / name).exists():
        name, n = f"{base}-{n}", n + 1
    return name


def auto_batch_size(train_tokens: int) -> int:
    """A power of two from 256 to 4096 giving a few hundred steps: small runs need steps more than big batches."""
    b = 256
    while b < 4096 and b * 2 * 256 <= train_tokens:
        b *= 2
    return b


@dataclass(frozen=True)
class RunSpec:
    name: str
    hook: str
    corpus: tuple[str, ...] = ()  # text files, folders, .jsonl files; empty: the built-in recipe
    width: int = 1024
    k: int = 32
    tokens: int = 200_000  # activations collected (distinct training tokens)
    passes: int = 2  # times training goes over them
    device: str = "cpu"  # where the SAE trains (the model collects and evaluates on its own device)
    ctx: int = 128
    model: str = ""  # the model it was started with (a resumed run must use the same one)
    model_sha256: str | None = None

    @property
    def builtin(self) -> bool:
        return not self.corpus

    @property
    def work_dir(self) -> Path:
        return work_root() / self.name

    @property
    def out_dir(self) -> Path:
        return saes_dir() / self.name

    @property
    def train_tokens(self) -> int:
        return self.tokens * self.passes

    def validate(self, n_layers: int | None = None) -> RunSpec:
        """Raise TrainingSetupError with what to change; returns self."""
        if not _NAME.fullmatch(self.name):
            raise TrainingSetupError(f"the name {self.name!r} may use letters, digits, '.', '_' and '-' only "
                                     "(starting with a letter or digit, at most 100 characters)")
        try:
            layer = parse_hook_name(self.hook).layer
        except DesktopSAEError as e:
            raise TrainingSetupError(str(e)) from None
        if n_layers is not None and layer >= n_layers:
            raise TrainingSetupError(f"the model has layers 0 to {n_layers - 1}; {self.hook} does not exist")
        if not 1 <= self.k < self.width:
            raise TrainingSetupError(f"k must be at least 1 and below the width ({self.width}); it is {self.k}")
        if self.tokens < MIN_TOKENS:
            raise TrainingSetupError(f"the token budget must be at least {MIN_TOKENS} tokens")
        if not 1 <= self.passes <= 100:
            raise TrainingSetupError("passes over the activations must be from 1 to 100")
        missing = [p for p in self.corpus if not Path(p).exists()]
        if missing:
            raise TrainingSetupError(f"corpus file or folder not found: {missing[0]}")
        return self

    def pipeline_config(self) -> PipelineConfig:
        batch = auto_batch_size(self.train_tokens)
        steps = max(1, self.train_tokens // batch)
        corpus = self.corpus or (str(self.work_dir / CORPUS),)
        return PipelineConfig(
            out=self.work_dir / STAGING, work=self.work_dir, corpus=tuple(corpus), hook=self.hook, width=self.width,
            k=self.k, tokens=self.train_tokens, collect_tokens=self.tokens, batch_size=batch, ctx=self.ctx,
            collect_batch_size=8,  # 1 k tokens per forward pass: as fast as 16 contexts, and Cancel waits half as long
            held_out=HELD_OUT, eval_batch_size=4, split_chars=SPLIT_CHARS, log_every=max(1, steps // 250),
            eval_tokens=min(16_384, max(4096, self.tokens // 25)),  # evaluation: 3 passes of the whole model
            device=self.device,
            # a latent counts as dead when it has not fired for a quarter of the run (at most the usual 500 k)
            train_options={"dead_tokens": min(500_000, max(4 * batch, self.train_tokens // 4))},
            metadata={"trained_by": "desktop-sae app", "corpus": "built-in recipe" if self.builtin
                      else [Path(p).name for p in self.corpus]},
        )

    def builtin_chars(self) -> int:
        """Characters the built-in recipe reads for this run's budget."""
        return chars_for_tokens(self.tokens, HELD_OUT)

    # --- the work folder -------------------------------------------------------------------------------------
    def save(self) -> None:
        atomic_write_text(self.work_dir / SPEC_FILE, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, folder: str | Path) -> RunSpec:
        d = json.loads((Path(folder) / SPEC_FILE).read_text())
        d["corpus"] = tuple(d.get("corpus") or ())
        return replace(cls(d.pop("name"), d.pop("hook")), **d)


def unfinished_runs() -> list[RunSpec]:
    """Runs with a work folder (cancelled, failed or interrupted), newest first."""
    root = work_root()
    if not root.is_dir():
        return []
    found = []
    for f in root.iterdir():
        try:
            found.append((f.stat().st_mtime, RunSpec.load(f)))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return [s for _, s in sorted(found, key=lambda t: -t[0])]


def publish(spec: RunSpec) -> Path:
    """Move the packaged SAE into ``saes/<name>`` (one rename) and delete the work folder; returns the SAE folder."""
    staged, out = spec.work_dir / STAGING, spec.out_dir
    if not (staged / "cfg.json").exists():
        raise TrainingSetupError(f"{staged} holds no finished SAE")
    if out.exists():
        raise TrainingSetupError(f"an SAE named {spec.name!r} already exists in {out.parent}; the trained one stays "
                                 f"in {staged}")
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, out)
    discard(spec)
    return out


def discard(spec: RunSpec) -> None:
    """Delete a run's work folder (its own folder under ``work_root()`` only)."""
    folder = spec.work_dir
    if folder.parent == work_root() and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
