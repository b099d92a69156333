"""More prose for the broader default-SAE corpus, from Debian documentation packages (paragraph text of HTML
manuals), written as JSONL {"text", "source"} like build_corpus.py.

Usage: python packaging/corpus/build_prose.py OUT_DIR
       (apt-get install python3-doc debian-reference-en jargon-text)
Sources: the Python 3 documentation (tutorial, how-tos, what's new, FAQ and the library reference's prose), the
Debian Reference, and the Jargon File. Deterministic; each source capped in characters.
"""

from __future__ import annotations

import html.parser
import json
import random
import sys
from pathlib import Path

CAPS = {"python_docs": 3_000_000, "debian_reference": 1_200_000, "jargon": 1_200_000}
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


def jargon(path=Path("/usr/share/doc/jargon-text/jargon.html")) -> list[str]:
    return _documents(paragraphs(path)) if path.exists() else []


SOURCES = {"python_docs": python_docs, "debian_reference": debian_reference, "jargon": jargon}


def main(argv=None) -> int:
    out = Path((argv or sys.argv[1:])[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in SOURCES.items():
        docs = fn()
        random.Random(0).shuffle(docs)
        kept, n = [], 0
        for d in docs:
            if n >= CAPS[name]:
                break
            kept.append(d)
            n += len(d)
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for d in kept:
                f.write(json.dumps({"text": d, "source": name}) + "\n")
        print(name, {"documents": len(kept), "chars": n}, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
