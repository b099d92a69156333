"""More prose for the broader default-SAE corpus, from Debian documentation packages (paragraph text of HTML
manuals), written as JSONL {"text", "source"} like build_corpus.py.

Usage: python packaging/corpus/build_prose.py OUT_DIR
       (apt-get install python3-doc debian-reference-en)
Sources: the Python 3 documentation (tutorial, how-tos, what's new, FAQ and the library reference's prose) and
the Debian Reference. Deterministic; each source capped in characters.
"""

from __future__ import annotations

import html.parser
import json
import sys
from pathlib import Path

CAPS = {"python_docs": 3_000_000, "debian_reference": 1_200_000}
DOC_CHARS = 3000


class _Paragraphs(html.parser.HTMLParser):
    """Text of <p>, <li> and <dd> elements (code blocks and navigation skipped)."""

    KEEP = {"p", "li", "dd"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth, self.buf, self.out = 0, [], []

    def handle_starttag(self, tag, attrs):
        if tag in self.KEEP:
            if self.depth == 0:
                self.buf = []
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.KEEP and self.depth:
            self.depth -= 1
            if self.depth == 0:
                text = " ".join("".join(self.buf).split())
                if len(text) > 60:
                    self.out.append(text)

    def handle_data(self, data):
        if self.depth:
            self.buf.append(data)


def paragraphs(path: Path) -> list[str]:
    p = _Paragraphs()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return p.out


def _documents(paras: list[str]) -> list[str]:
    docs, cur = [], []
    for para in paras:
        cur.append(para)
        if sum(map(len, cur)) >= DOC_CHARS:
            docs.append("\n\n".join(cur))
            cur = []
    if cur:
        docs.append("\n\n".join(cur))
    return docs


def python_docs(root=Path("/usr/share/doc/python3.11/html")) -> list[str]:
    docs = []
    for sub in ("tutorial", "howto", "whatsnew", "faq", "library", "reference", "using"):
        for f in sorted((root / sub).glob("*.html")):
            docs += _documents(paragraphs(f))
    return docs


def debian_reference(root=Path("/usr/share/debian-reference")) -> list[str]:
    return [d for f in sorted(root.glob("*.en.html")) for d in _documents(paragraphs(f))]


SOURCES = {"python_docs": python_docs, "debian_reference": debian_reference}


def main(argv=None) -> int:
    from desktop_sae.core.training.builtin_corpus import cap_documents, write_jsonl

    out = Path((argv or sys.argv[1:])[0])
    summary = write_jsonl(out, {name: cap_documents(fn(), CAPS[name]) for name, fn in SOURCES.items()})
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
