"""Token windows to read feature contexts from: documents (files, or the built-in corpus) cut into
``protocol.WINDOW``-token rows that start with BOS, shuffled (seeded) and capped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..training.builtin_corpus import builtin_documents, installed_sources
from ..training.corpus import Document, read_documents, tokenize_corpus
from . import protocol
from .contexts import ContextBank

if TYPE_CHECKING:
    from ..sae.autoencoder import SAE


def corpus_documents(paths: Sequence[str | Path] = (), max_chars: int = 2_000_000) -> list[Document]:
    """Documents from ``paths`` (text files, folders, JSONL with a "text" field) or, without paths, from the
    built-in corpus capped at ``max_chars`` characters (about 3.6 characters make a token)."""
    if paths:
        return list(read_documents(paths, split_chars=4000))
    return [Document(text, source) for source, texts in builtin_documents(max_chars=max_chars).items()
            for text in texts]


def corpus_name(paths: Sequence[str | Path] = ()) -> list[str]:
    """What ``corpus_documents(paths)`` reads, for cache keys and provenance: the resolved paths, or the built-in
    corpus's sources installed on this machine (they differ between machines)."""
    if paths:
        return [str(Path(p).resolve()) for p in paths]
    return ["built-in: " + ", ".join(installed_sources())]


def token_windows(documents: Sequence[Document], tokenizer: Any, n_windows: int, seed: int = 0,
                  cancelled: Callable[[], bool] | None = None) -> np.ndarray:
    """At most ``n_windows`` rows [n, WINDOW] of token ids, each beginning with BOS."""
    corpus = tokenize_corpus(documents, tokenizer, ctx_len=protocol.WINDOW, held_out=0.0, seed=seed,
                             cancelled=cancelled)
    if not len(corpus.train):
        raise ValueError("the corpus is too short for one context window")
    return np.asarray(corpus.train[:n_windows])


def read_contexts(model: Any, tokenizer: Any, sae: SAE, hook_name: str, n_windows: int, seed: int = 0,
                  corpus: Sequence[str | Path] = (), skip_ids: tuple[int, ...] = (),
                  progress: Callable[[float, str], None] | None = None,
                  cancel: Callable[[], bool] | None = None) -> ContextBank:
    """The context bank of ``n_windows`` windows of ``corpus`` (default: the built-in corpus), as the CLI and the
    app's Tools → Explain features… read it; ``cancel()`` raises ``Cancelled``."""
    docs = corpus_documents(corpus, max_chars=n_windows * protocol.WINDOW * 6)
    windows = token_windows(docs, tokenizer, n_windows, seed, cancelled=cancel)
    return ContextBank.build(model, tokenizer, sae, hook_name, windows, seed=seed, skip_ids=skip_ids,
                             unembedding=model.get_output_embeddings().weight, progress=progress, cancel=cancel)
