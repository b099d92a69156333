"""Training corpora: text files/folders, JSONL with a text field, the model's own chat answers; tokenised into
fixed-length contexts that start with BOS, documents separated by BOS, with a held-out split by document hash."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..support.errors import Cancelled, DesktopSAEError

if TYPE_CHECKING:
    from ..engine.models import LoadedModel

TEXT_SUFFIXES = {".txt", ".md", ".rst", ".py", ".text", ".html", ".json", ".c", ".js"}


class CorpusError(DesktopSAEError, ValueError):
    """A corpus file that cannot be read as documents, or a corpus too small to train on."""


@dataclass(frozen=True)
class Document:
    text: str
    source: str = ""


def split_text(text: str, max_chars: int) -> list[str]:
    """Cut a long text into pieces of at most ``max_chars`` at line ends (a longer line is cut hard); joined
    again, the pieces give the text back (less pieces that are only whitespace)."""
    if len(text) <= max_chars:
        return [text]
    out, cur = [], ""
    for para in re.split(r"(?<=\n)", text):
        while len(para) > max_chars:
            if cur:
                out.append(cur)
                cur = ""
            out.append(para[:max_chars])
            para = para[max_chars:]
        if len(cur) + len(para) > max_chars:
            out.append(cur)
            cur = ""
        cur += para
    return [t for t in out + [cur] if t.strip()]


def read_documents(paths: Sequence[str | Path], text_field: str = "text",
                   split_chars: int | None = None) -> Iterator[Document]:
    """Documents from files and folders: ``.jsonl`` gives one document per line (its ``text_field``), any other
    text file is one document (or, with ``split_chars``, one per piece of ``split_text``, so that one long file
    can still be split into training and held-out text); folders are walked recursively (text-like suffixes and
    .jsonl only)."""
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"corpus path not found: {p}")
        files = sorted(f for f in p.rglob("*") if f.is_file() and (f.suffix in TEXT_SUFFIXES or f.suffix == ".jsonl")) \
            if p.is_dir() else [p]
        for f in files:
            if f.suffix == ".jsonl":
                with f.open(encoding="utf-8") as fh:
                    for n, line in enumerate(fh, 1):
                        if not line.strip():
                            continue
                        try:
                            rec = json.loads(line)
                        except ValueError:
                            rec = None
                        if not isinstance(rec, dict) or not isinstance(rec.get(text_field), str):
                            raise CorpusError(f"{f}:{n}: expected a JSON object with a string field {text_field!r}")
                        if rec[text_field].strip():
                            yield Document(rec[text_field], str(rec.get("source") or f.stem))
            else:
                text = f.read_text(encoding="utf-8", errors="replace")
                for piece in split_text(text, split_chars) if split_chars else [text]:
                    if piece.strip():
                        yield Document(piece, f.stem)


def is_held_out(text: str, fraction: float) -> bool:
    """Stable split by document content: the same document always lands on the same side."""
    h = int.from_bytes(hashlib.sha1(text.encode("utf-8", "replace")).digest()[:8], "little")
    return (h % 1_000_000) < fraction * 1_000_000


@dataclass
class TokenizedCorpus:
    train: np.ndarray  # int32 [n_ctx, ctx_len], every row starts with BOS
    held_out: np.ndarray  # int32 [m_ctx, ctx_len]
    bos_id: int
    sources: dict[str, int]  # tokens per source (train + held-out)

    def save(self, path: str | Path) -> None:
        import io

        from ..support.atomic import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(buf, train=self.train, held_out=self.held_out, bos_id=np.int64(self.bos_id),
                 sources=np.frombuffer(json.dumps(self.sources).encode(), dtype=np.uint8))
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> TokenizedCorpus:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["train"], z["held_out"], int(z["bos_id"]), json.loads(z["sources"].tobytes().decode()))


def _pack(streams: Iterable[list[int]], ctx_len: int, bos: int) -> np.ndarray:
    """Concatenate documents (each preceded by BOS) and cut into rows of ctx_len; rows get a leading BOS."""
    rows, cur = [], [bos]
    for ids in streams:
        for t in ([bos] if cur[-1] != bos else []) + list(ids):
            cur.append(t)
            if len(cur) == ctx_len:
                rows.append(cur)
                cur = [bos]
    if not rows:
        return np.zeros((0, ctx_len), dtype=np.int32)
    return np.asarray(rows, dtype=np.int32)


def tokenize_corpus(docs: Iterable[Document], tokenizer: Any, ctx_len: int = 128, held_out: float = 0.02,
                    seed: int = 0, max_tokens: int | None = None, batch: int = 256,
                    progress: Callable[[float, str], None] | None = None,
                    cancelled: Callable[[], bool] | None = None) -> TokenizedCorpus:
    """Tokenise documents into shuffled fixed-length contexts. Special tokens written in the text (chat markup)
    are kept; a BOS already at a document's start is not doubled. ``max_tokens`` caps the training split.
    ``progress(fraction, message)`` follows each batch of documents; ``cancelled()`` is checked before each and
    raises ``Cancelled``."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if bos is None:
        raise ValueError("the tokenizer has neither a BOS nor an EOS token to mark context starts")
    docs = list(docs)
    random.Random(seed).shuffle(docs)
    train_ids: list[list[int]] = []
    held_ids: list[list[int]] = []
    sources: dict[str, int] = {}
    for i in range(0, len(docs), batch):
        if cancelled is not None and cancelled():
            raise Cancelled("tokenising the corpus was cancelled")
        if progress is not None:
            progress(i / max(len(docs), 1), f"{i}/{len(docs)} documents")
        chunk = docs[i : i + batch]
        enc = tokenizer([d.text for d in chunk], add_special_tokens=False)["input_ids"]
        for d, ids in zip(chunk, enc):
            if ids and ids[0] == bos:
                ids = ids[1:]
            sources[d.source] = sources.get(d.source, 0) + len(ids)
            (held_ids if is_held_out(d.text, held_out) else train_ids).append(ids)
    train = _pack(train_ids, ctx_len, bos)
    held = _pack(held_ids, ctx_len, bos)
    rng = np.random.default_rng(seed)
    train = train[rng.permutation(len(train))]
    if max_tokens:
        train = train[: max(1, -(-max_tokens // (ctx_len - 1)))]
    return TokenizedCorpus(train, held, int(bos), sources)


def model_answers(lm: LoadedModel, prompts: Sequence[str], samples: int = 1, max_new_tokens: int = 160, batch: int = 16,
                  temperature: float = 0.7, seed: int = 0,
                  progress: Callable[[int, int], None] | None = None) -> list[Document]:
    """Chat-formatted conversations (user prompt + the model's sampled answer) as documents."""
    import torch

    tok, model = lm.tokenizer, lm.model
    side, tok.padding_side = tok.padding_side, "left"
    jobs = [p for _ in range(samples) for p in prompts]
    out: list[Document] = []
    try:
        for i in range(0, len(jobs), batch):
            texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                             add_generation_prompt=True)
                     for p in jobs[i : i + batch]]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            torch.manual_seed(seed + i)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature,
                                     top_p=0.9, repetition_penalty=1.1, pad_token_id=tok.pad_token_id)
            for text, ids in zip(texts, gen[:, enc["input_ids"].shape[1]:]):
                answer = tok.decode(ids[ids != tok.pad_token_id], skip_special_tokens=True).strip()
                out.append(Document(text + answer + (tok.eos_token or "") + "\n", "model-answers"))
            if progress:
                progress(len(out), len(jobs))
    finally:
        tok.padding_side = side
    return out
