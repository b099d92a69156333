"""Build the default SAE corpus from what a Debian machine can install, as JSONL files of {"text", "source"}.

Sources (see README.md): WordNet 3.0 glosses, GCIDE dictionary entries, fortune cookies, the KJV Bible,
the Python standard library source, and (separately, gen_answers.py) the bundled model's own chat answers.
Usage: python packaging/corpus/build_corpus.py OUT_DIR   (apt-get install wordnet-base dict-gcide fortunes bible-kjv)
Deterministic: same packages -> same files. The recipe itself (sources, caps) is
``desktop_sae.core.training.builtin_corpus``, which the app's "Train an SAE" dialog uses too.
"""

from __future__ import annotations

import sys
from pathlib import Path

from desktop_sae.core.training.builtin_corpus import SOURCES, builtin_documents, write_jsonl


def main(argv=None) -> int:
    out = Path((argv or sys.argv[1:])[0])
    docs = builtin_documents(tuple(SOURCES))  # every source: a missing package is an error
    summary = write_jsonl(out, docs, summary=out / "sources.json")
    for name, s in summary.items():
        print(name, s, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
