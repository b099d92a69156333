"""The lite tokenizer (core/engine/lite/tokenizer.py) against transformers' on the tiny tokenizer and (integration) the
bundled model's: the same ids for plain text and chat templates, the same decoded text and special tokens."""

import json

import pytest
import torch

from desktop_sae.core.engine.lite.config import Unsupported
from desktop_sae.core.engine.lite.tokenizer import LiteTokenizer
from tiny import tiny_tokenizer

TEXTS = [
    "hello world, how are you today?",
    "  leading and trailing spaces  \n\n\ttabs\r\nand CRLF",
    "Unicode: café, naïve, Ελληνικά, 日本語のテキスト, emoji 🤖🎉, combining é, zero\u200bwidth",
    "def add(a, b):\n    return a + b  # code\n\nclass X:\n\tpass",
    "<|im_start|>user\nspecial tokens in text<|im_end|>\n",
    "",
    "a" * 300 + " 12345678901234567890 3.14159 -1e-9",
]
CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi 👋"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "  code:\n```py\nx=1\n```"},
    ],
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    f = tmp_path_factory.mktemp("lite_tok") / "tiny-tokenizer"
    tiny_tokenizer().save_pretrained(f)
    return f


def _compare_tokenizers(lt, ht):
    assert len(lt) == len(ht) and lt.all_special_ids == ht.all_special_ids
    assert (lt.bos_token_id, lt.eos_token_id, lt.pad_token_id, lt.eos_token) == (
        ht.bos_token_id,
        ht.eos_token_id,
        ht.pad_token_id,
        ht.eos_token,
    )
    for text in TEXTS:
        for special in (True, False):
            assert (
                lt(text, add_special_tokens=special)["input_ids"] == ht(text, add_special_tokens=special)["input_ids"]
            )
        ids = ht(text)["input_ids"]
        for skip in (True, False):
            assert lt.decode(ids, skip_special_tokens=skip) == ht.decode(ids, skip_special_tokens=skip)
        assert lt.convert_ids_to_tokens(ids) == ht.convert_ids_to_tokens(ids)
        assert [lt.decode([i]) for i in ids] == [ht.decode([i]) for i in ids]
    for i in range(0, len(ht), max(1, len(ht) // 97)):
        t = ht.convert_ids_to_tokens(i)
        assert lt.convert_ids_to_tokens(i) == t and lt.convert_tokens_to_string([t]) == ht.convert_tokens_to_string([t])
    for chat in CHATS:
        for gen in (True, False):
            assert lt.apply_chat_template(chat, add_generation_prompt=gen, tokenize=False) == ht.apply_chat_template(
                chat, add_generation_prompt=gen, tokenize=False
            )
            assert (
                lt.apply_chat_template(chat, add_generation_prompt=gen)["input_ids"]
                == ht.apply_chat_template(chat, add_generation_prompt=gen)["input_ids"]
            )
    lt.padding_side = ht.padding_side = "left"
    a = lt(TEXTS[:3], return_tensors="pt", padding=True, add_special_tokens=False)
    b = ht(TEXTS[:3], return_tensors="pt", padding=True, add_special_tokens=False)
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["attention_mask"], b["attention_mask"])


def test_tokenizer_matches_transformers_on_the_tiny_tokenizer(folder):
    from transformers import AutoTokenizer

    _compare_tokenizers(LiteTokenizer.from_folder(folder), AutoTokenizer.from_pretrained(str(folder)))


@pytest.mark.integration
def test_tokenizer_matches_transformers_on_the_bundled_model(bundled_lm):
    from transformers import AutoTokenizer

    assert isinstance(bundled_lm.tokenizer, LiteTokenizer)
    _compare_tokenizers(
        LiteTokenizer.from_folder(bundled_lm.tokenizer.name_or_path),
        AutoTokenizer.from_pretrained(bundled_lm.tokenizer.name_or_path),
    )


def test_tokenizer_edge_cases_match_transformers(folder):
    from dataclasses import dataclass

    from transformers import AutoTokenizer

    @dataclass
    class Message:
        role: str
        content: str

    lt, ht = LiteTokenizer.from_folder(folder), AutoTokenizer.from_pretrained(str(folder))
    for ids in (torch.tensor([1, 2, 30]), [4, 5], 7):
        assert lt.convert_ids_to_tokens(ids) == ht.convert_ids_to_tokens(ids)
        assert lt.decode(ids) == ht.decode(ids)
    assert lt.convert_tokens_to_ids("no-such-token") == ht.convert_tokens_to_ids("no-such-token") == ht.unk_token_id
    msgs = [Message("user", "hi"), Message("assistant", "hello")]
    assert lt.apply_chat_template(msgs, tokenize=False) == ht.apply_chat_template(msgs, tokenize=False)
    batch = [CHATS[0], CHATS[1]]
    assert (
        lt.apply_chat_template(batch, add_generation_prompt=True)["input_ids"]
        == ht.apply_chat_template(batch, add_generation_prompt=True)["input_ids"]
    )


def test_tokenizer_with_unusual_config_is_left_to_transformers(folder, tmp_path):
    for f in ("tokenizer.json", "chat_template.jinja"):
        (tmp_path / f).write_bytes((folder / f).read_bytes())
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**cfg, "add_bos_token": True}))
    with pytest.raises(Unsupported):
        LiteTokenizer.from_folder(tmp_path)
