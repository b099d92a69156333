"""A transformers-free tokenizer for HF folders: ``tokenizers`` for the ids, jinja2's sandbox for the chat template.

It covers the part of transformers' ``TokenizersBackend`` API the project uses and produces the same ids and
text. Folders whose tokenizer_config.json asks for more (another tokenizer class, add_bos/eos overrides,
named model-specific tokens, padding/truncation stored in tokenizer.json) raise Unsupported, and the caller
uses transformers' AutoTokenizer instead.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, overload

from .chat_template import compile_chat_template
from .config import Unsupported

if TYPE_CHECKING:
    import numpy as np
    import torch
    from _typeshed import DataclassInstance
    from tokenizers import Tokenizer

    Message = Mapping[str, Any] | DataclassInstance  # a chat message: a dict, or a dataclass

SPECIAL_ATTRS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_CLASSES = (None, "TokenizersBackend", "PreTrainedTokenizerFast")
_PLAIN_KEYS = {
    *SPECIAL_ATTRS,
    "backend",
    "tokenizer_class",
    "additional_special_tokens",
    "extra_special_tokens",
    "model_max_length",
    "chat_template",
    "clean_up_tokenization_spaces",
    "padding_side",
    "truncation_side",
    "is_local",
    "local_files_only",
    "added_tokens_decoder",
    "model_input_names",
    "name_or_path",
    "split_special_tokens",
    "add_prefix_space",
    "errors",
    "legacy",
}
_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")


def _content(tok: str | dict[str, Any]) -> str:
    return cast(str, tok.get("content")) if isinstance(tok, dict) else tok  # (a token's dict holds its content)


def _as_dict(message: Message) -> dict[str, Any]:
    """A chat message as a dict (dataclasses too, as transformers accepts them)."""
    if dataclasses.is_dataclass(message) and not isinstance(message, type):
        return dataclasses.asdict(message)
    return dict(cast("Mapping[str, Any]", message))  # (not a dataclass)


class Encoding(dict[str, Any]):
    """A dict of ``input_ids`` / ``attention_mask`` that also allows attribute access, like BatchEncoding."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class LiteTokenizer:
    def __init__(self, tokenizer: Tokenizer, config: dict[str, Any], chat_template: str | dict[str, str] | None = None,
                 name_or_path: str = "") -> None:
        self._tk = tokenizer
        self.name_or_path = name_or_path
        self._config = config
        self.special_tokens_map = {a: _content(config[a]) for a in SPECIAL_ATTRS if config.get(a) is not None}
        extra = config.get("extra_special_tokens", config.get("additional_special_tokens")) or []
        self._extra = [_content(t) for t in extra]
        self.chat_template = chat_template
        self.padding_side = config.get("padding_side", "right")
        self.truncation_side = config.get("truncation_side", "right")
        self.model_max_length = config.get("model_max_length", int(1e30))
        self.clean_up_tokenization_spaces = bool(config.get("clean_up_tokenization_spaces", False))
        self._is_bpe = type(tokenizer.model).__name__ == "BPE"

    @classmethod
    def from_folder(cls, folder: str | Path) -> LiteTokenizer:
        from tokenizers import Tokenizer

        folder = Path(folder)
        tj = folder / "tokenizer.json"
        if not tj.is_file():
            raise Unsupported("no tokenizer.json")
        try:
            config = json.loads((folder / "tokenizer_config.json").read_text())
        except (OSError, ValueError):
            raise Unsupported("no readable tokenizer_config.json") from None
        odd = set(config) - _PLAIN_KEYS
        if odd or config.get("tokenizer_class") not in _CLASSES or config.get("split_special_tokens"):
            raise Unsupported(
                f"tokenizer_config.json needs transformers ({sorted(odd) or config.get('tokenizer_class')})"
            )
        if config.get("add_prefix_space") or isinstance(config.get("extra_special_tokens"), dict):
            raise Unsupported("add_prefix_space / named extra special tokens")
        tk = Tokenizer.from_file(str(tj))
        if tk.padding is not None or tk.truncation is not None:
            raise Unsupported("tokenizer.json sets padding or truncation")
        for i, t in (config.get("added_tokens_decoder") or {}).items():
            if tk.token_to_id(_content(t)) != int(i):
                raise Unsupported("tokenizer_config.json adds tokens")
        template = config.get("chat_template")
        jinja = folder / "chat_template.jinja"
        if template is None and jinja.is_file():
            template = jinja.read_text(encoding="utf-8")
        if isinstance(template, list):
            template = {t["name"]: t["template"] for t in template}
        return cls(tk, config, template, str(folder))

    # --- vocabulary -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._tk.get_vocab_size(with_added_tokens=True)

    @property
    def vocab_size(self) -> int:
        return self._tk.get_vocab_size(with_added_tokens=False)

    def get_vocab(self) -> dict[str, int]:
        return self._tk.get_vocab(with_added_tokens=True)

    def __getattr__(self, name: str) -> Any:
        # bos_token, eos_token_id, pad_token, ... (None when the tokenizer has no such token): a str, int or None
        base = name[:-3] if name.endswith("_id") else name
        if base in SPECIAL_ATTRS:
            tok = self.__dict__.get("special_tokens_map", {}).get(base)
            return tok if base == name or tok is None else self.convert_tokens_to_ids(tok)
        raise AttributeError(name)

    @property
    def all_special_tokens(self) -> list[str]:
        seen: list[str] = []
        for t in [*self.special_tokens_map.values(), *self._extra]:
            if t not in seen:
                seen.append(t)
        return seen

    @property
    def all_special_ids(self) -> list[int | None]:
        return self.convert_tokens_to_ids(self.all_special_tokens)

    @overload
    def convert_tokens_to_ids(self, tokens: str) -> int | None: ...
    @overload
    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int | None]: ...
    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | None | list[int | None]:
        if isinstance(tokens, str):
            i = self._tk.token_to_id(tokens)
            unk = self.special_tokens_map.get("unk_token")
            return self._tk.token_to_id(unk) if i is None and unk is not None else i
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int] | torch.Tensor | np.ndarray,
                              skip_special_tokens: bool = False) -> str | None | list[str | None]:
        if hasattr(ids, "tolist"):  # numpy / torch, scalar or not
            ids = ids.tolist()
        if isinstance(ids, int):
            return self._tk.id_to_token(ids)
        special = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._tk.id_to_token(int(i)) for i in ids if int(i) not in special]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        dec = self._tk.decoder
        return dec.decode(tokens) if dec is not None else " ".join(tokens)

    # --- encoding / decoding --------------------------------------------------------------------------
    def encode(self, text: str, add_special_tokens: bool = True, **kwargs: Any) -> list[int]:
        return self(text, add_special_tokens=add_special_tokens, **kwargs)["input_ids"]

    def __call__(
        self,
        text: str | Sequence[str],
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str = False,
        max_length: int | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool = True,
        **kwargs: Any,
    ) -> Encoding:
        if kwargs.get("text_pair") is not None or kwargs.get("is_split_into_words"):
            raise NotImplementedError("the lite tokenizer encodes plain text only")
        batched = isinstance(text, (list, tuple))
        encs = (
            self._tk.encode_batch(list(text), add_special_tokens=add_special_tokens)
            if batched
            else [self._tk.encode(text, add_special_tokens=add_special_tokens)]
        )
        ids = [list(e.ids) for e in encs]
        if truncation and max_length:
            ids = [s[:max_length] if self.truncation_side == "right" else s[-max_length:] for s in ids]
        masks = [[1] * len(s) for s in ids]
        if padding in (True, "longest", "max_length") and (len(ids) > 1 or padding == "max_length"):
            pad = self.pad_token_id
            if pad is None:
                raise ValueError("asking to pad but the tokenizer does not have a padding token")
            width = max_length if padding == "max_length" and max_length else max(len(s) for s in ids)
            left = self.padding_side == "left"
            for j, (s, m) in enumerate(zip(ids, masks)):
                fill = width - len(s)
                ids[j], masks[j] = ([pad] * fill + s, [0] * fill + m) if left else (s + [pad] * fill, m + [0] * fill)
        out = Encoding(input_ids=ids if batched else ids[0])
        if return_attention_mask:
            out["attention_mask"] = masks if batched else masks[0]
        if return_tensors is not None:
            out = _tensors(out, return_tensors, batched)
        return out

    def decode(
        self,
        token_ids: int | Sequence[int] | Sequence[Sequence[int]] | torch.Tensor | np.ndarray,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str | list[str]:
        if hasattr(token_ids, "tolist"):
            token_ids = token_ids.tolist()
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        if token_ids and isinstance(token_ids[0], (list, tuple)):
            # (cast: a row of ids decodes to one text)
            return [cast(str, self.decode(s, skip_special_tokens, clean_up_tokenization_spaces)) for s in token_ids]
        text = self._tk.decode(cast("Sequence[int]", token_ids), skip_special_tokens=skip_special_tokens)  # one row
        clean = (
            self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces
        )
        if clean and not self._is_bpe:  # transformers skips this clean-up for BPE models as well
            for a, b in (
                (" .", "."),
                (" ?", "?"),
                (" !", "!"),
                (" ,", ","),
                (" ' ", "'"),
                (" n't", "n't"),
                (" 'm", "'m"),
                (" 's", "'s"),
                (" 've", "'ve"),
                (" 're", "'re"),
            ):
                text = text.replace(a, b)
        return text

    def batch_decode(self, sequences: Sequence[Sequence[int]] | torch.Tensor | np.ndarray, **kwargs: Any) -> list[str]:
        return [cast(str, self.decode(s, **kwargs)) for s in sequences]  # (cast: one row, one text)

    # --- chat -----------------------------------------------------------------------------------------
    def get_chat_template(self, chat_template: str | None = None, tools: list[dict[str, Any]] | None = None) -> str:
        t = self.chat_template
        if isinstance(t, dict):
            if chat_template in t:
                return t[chat_template]
            if chat_template is None:
                name = "tool_use" if tools is not None and "tool_use" in t else "default"
                if name not in t:
                    raise ValueError(f"this model has several chat templates and no default: {sorted(t)}")
                return t[name]
        if chat_template is not None:
            return chat_template
        if not isinstance(t, str):  # None (a dict of templates has returned above)
            raise ValueError("this tokenizer has no chat template")
        return t

    def apply_chat_template(
        self,
        conversation: Sequence[Message] | Sequence[Sequence[Message]],
        tools: list[dict[str, Any]] | None = None,
        documents: list[dict[str, str]] | None = None,
        chat_template: str | None = None,
        add_generation_prompt: bool = False,
        continue_final_message: bool | str = False,
        tokenize: bool = True,
        return_dict: bool = True,
        return_tensors: str | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> str | list[str] | Encoding | list[int] | list[list[int]]:
        """transformers' rendering (same sandbox, filters and globals); returns what transformers 5 returns."""
        if continue_final_message or kwargs.pop("return_assistant_tokens_mask", False):
            raise NotImplementedError("continue_final_message / assistant masks need the transformers tokenizer")
        if tools is not None and not all(isinstance(t, dict) for t in tools):
            raise NotImplementedError("tools must be JSON schemas (dicts) with the lite tokenizer")
        for k in ("padding", "truncation", "max_length", "sanitize_control_tokens"):
            if kwargs.pop(k, None):
                raise NotImplementedError(f"{k} needs the transformers tokenizer")
        batched = bool(conversation) and isinstance(conversation[0], (list, tuple))
        chats = cast("Sequence[Sequence[Message]]", conversation if batched else [conversation])  # (checked just above)
        if not chats or not all(chats):
            raise ValueError("Cannot apply chat template to an empty conversation. Provide at least one message.")
        template = compile_chat_template(self.get_chat_template(chat_template, tools))
        extra = {**self.special_tokens_map, **kwargs}
        rendered = [
            template.render(
                messages=[{k: v for k, v in _as_dict(m).items() if v is not None} for m in chat],
                tools=tools,
                documents=documents,
                add_generation_prompt=add_generation_prompt,
                **extra,
            )
            for chat in chats
        ]
        if not tokenize:
            return rendered if batched else rendered[0]
        out = self(
            rendered if batched else rendered[0],
            add_special_tokens=False,
            return_tensors=return_tensors,
            **(tokenizer_kwargs or {}),
        )
        return out if return_dict else out["input_ids"]

    def save_pretrained(self, directory: str | Path) -> tuple[str, ...]:
        """Copy the tokenizer files this tokenizer was read from."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        saved = []
        for name in _FILES:
            src = Path(self.name_or_path) / name
            if src.is_file():
                shutil.copyfile(src, directory / name)
                saved.append(str(directory / name))
        return tuple(saved)

    def __repr__(self) -> str:
        return (
            f"LiteTokenizer(name_or_path={self.name_or_path!r}, vocab={len(self)}, special={self.special_tokens_map})"
        )


def _tensors(enc: Encoding, kind: str, batched: bool) -> Encoding:
    if str(kind) not in ("pt", "np"):
        raise ValueError(f"return_tensors={kind!r} is not supported")
    make: Callable[[list[Any]], object]
    if str(kind) == "pt":
        import torch

        make = torch.tensor
    else:
        import numpy

        make = numpy.array
    return Encoding({k: make(v if batched else [v]) for k, v in enc.items()})

