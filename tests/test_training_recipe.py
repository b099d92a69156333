"""The built-in corpus recipe (text already on the machine), long text files cut into documents, and cancelling
the tokeniser."""

import json

import pytest

from desktop_sae.core.support.errors import Cancelled
from desktop_sae.core.training import builtin_corpus as bc
from desktop_sae.core.training.corpus import Document, read_documents, split_text, tokenize_corpus
from tiny import TRAIN_TEXT, tiny_tokenizer


def test_the_python_standard_library_is_always_a_source():
    assert "python_stdlib" in bc.installed_sources()
    docs = bc.python_stdlib()
    assert docs and all(len(d) <= 6000 + 200 and d.startswith("# file: ") for d in docs)
    assert not any("/test" in d.split("\n", 1)[0] for d in docs)  # tests are skipped


def test_caps_shrink_in_proportion_to_the_budget():
    full = bc.source_caps(("wordnet", "python_stdlib"))
    assert full == {"wordnet": bc.CAPS["wordnet"], "python_stdlib": bc.CAPS["python_stdlib"]}
    small = bc.source_caps(("wordnet", "python_stdlib"), max_chars=520_000)
    assert sum(small.values()) <= 520_000 and small["python_stdlib"] / small["wordnet"] == pytest.approx(1.6, rel=1e-3)
    assert bc.source_caps(("bible",), max_chars=10**9) == {"bible": bc.CAPS["bible"]}  # never above the recipe


def test_builtin_documents_fit_the_budget_and_are_deterministic(tmp_path):
    budget = bc.chars_for_tokens(20_000)
    assert 20_000 * 3 < budget < 20_000 * 6
    a = bc.builtin_documents(("python_stdlib",), max_chars=budget)
    b = bc.builtin_documents(("python_stdlib",), max_chars=budget)
    assert a == b
    n = sum(map(len, a["python_stdlib"]))
    assert budget <= n < budget + 6100  # stops with the document that crosses the cap
    summary = bc.write_jsonl(tmp_path / "corpus", a, summary=tmp_path / "sources.json")
    assert summary == {"python_stdlib": {"documents": len(a["python_stdlib"]), "chars": n}}
    back = list(read_documents([tmp_path / "corpus"]))
    assert sorted(d.text for d in back) == sorted(a["python_stdlib"]) and {d.source for d in back} == {"python_stdlib"}
    assert json.loads((tmp_path / "sources.json").read_text()) == summary


def test_building_the_corpus_can_be_cancelled():
    with pytest.raises(Cancelled):
        bc.builtin_documents(("python_stdlib",), cancelled=lambda: True)


def test_split_text_cuts_at_line_ends_and_loses_nothing():
    text = "".join(f"line {i} of the story\n" for i in range(300)) + "x" * 2500 + "\nthe end"
    pieces = split_text(text, 1000)
    assert "".join(pieces) == text and all(len(p) <= 1000 for p in pieces) and len(pieces) >= 9
    assert all(p.endswith("\n") for p in pieces[:5])  # whole lines while there are lines
    assert split_text("short", 1000) == ["short"]


def test_a_long_text_file_becomes_several_documents_only_when_asked(tmp_path):
    (tmp_path / "book.txt").write_text("A sentence of the book.\n" * 1000)
    assert len(list(read_documents([tmp_path]))) == 1  # the CLI's behaviour stays
    docs = list(read_documents([tmp_path], split_chars=4000))
    assert len(docs) == -(-1000 // (4000 // 24)) and {d.source for d in docs} == {"book"}  # 166 whole lines each


def test_tokenising_reports_progress_and_stops_when_cancelled():
    docs = [Document(f"{TRAIN_TEXT[:200]} {i}") for i in range(40)]
    seen = []
    tokenize_corpus(docs, tiny_tokenizer(), ctx_len=32, batch=8, progress=lambda f, m: seen.append(f))
    assert seen == sorted(seen) and len(seen) == 5 and seen[0] == 0.0
    calls = []

    def third_time() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        tokenize_corpus(docs, tiny_tokenizer(), ctx_len=32, batch=8, cancelled=third_time)
    assert len(calls) == 3
