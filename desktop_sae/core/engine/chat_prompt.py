"""Turning chat messages into prompt token ids: the tokenizer's chat template, or a plain-text fallback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def as_messages(prompt: str | Sequence[dict], system: str | None = None) -> list[dict]:
    """``{"role", "content"}`` dicts: a plain string is one user message; ``system`` is prepended unless one is
    there."""
    if isinstance(prompt, str):
        msgs = [{"role": "user", "content": prompt}]
    else:
        msgs = list(prompt)
    if system and not any(m["role"] == "system" for m in msgs):
        msgs = [{"role": "system", "content": system}, *msgs]
    return msgs


def plain_text_prompt(messages: list[dict]) -> str:
    """Fallback for models without a chat template: 'System: …\\nUser: …\\nAssistant:'."""
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


# ``tokenizer``: a transformers tokenizer or the lite one (Any: transformers' tokenizers are loosely typed)
def chat_prompt_ids(tokenizer: Any, prompt: str | Sequence[dict], system: str | None = None) -> list[int]:
    messages = as_messages(prompt, system)
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys") and "input_ids" in ids:  # BatchEncoding in transformers >= 5
            ids = ids["input_ids"]
        if ids and isinstance(ids[0], list):
            ids = ids[0]
        return [int(i) for i in ids]
    return text_ids(tokenizer, plain_text_prompt(messages))


def text_ids(tokenizer: Any, text: str) -> list[int]:
    """Raw text -> ids, with BOS prepended when the tokenizer has one and did not add it."""
    ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids = [bos, *ids]
    return ids


def answer_ids(tokenizer: Any, text: str) -> list[int]:
    """The start of an answer as the model would have written it after the chat template: no special tokens (no
    BOS in the middle of a conversation)."""
    return [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]


def answer_context_ids(tokenizer: Any, prompt: str | Sequence[dict], answer: str = "",
                       system: str | None = None) -> list[int]:
    """A chat prompt through the template, then the start of the assistant's answer: the context of a graph."""
    return [*chat_prompt_ids(tokenizer, prompt, system), *answer_ids(tokenizer, answer)]
