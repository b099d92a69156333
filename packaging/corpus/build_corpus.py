"""Build the default SAE corpus from what a Debian machine can install, as JSONL files of {"text", "source"}.

Sources (see README.md): WordNet 3.0 glosses, GCIDE dictionary entries, fortune cookies, the KJV Bible,
the Python standard library source, and (separately, gen_answers.py) the bundled model's own chat answers.
Usage: python packaging/corpus/build_corpus.py OUT_DIR   (apt-get install wordnet-base dict-gcide fortunes bible-kjv)
Deterministic: same packages -> same files. Each source is capped in characters (≈ 4 chars per token).
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import sysconfig
from pathlib import Path

CAPS = {"wordnet": 2_000_000, "gcide": 2_400_000, "fortunes": 1_600_000, "bible": 3_200_000, "python_stdlib": 3_200_000}


def _cap(docs: list[str], cap: int, seed: int = 0) -> list[str]:
    random.Random(seed).shuffle(docs)
    out, n = [], 0
    for d in docs:
        if n >= cap:
            break
        out.append(d)
        n += len(d)
    return out


def wordnet(root=Path("/usr/share/wordnet")) -> list[str]:
    """Glosses "word (pos): definition; examples", grouped 12 to a document in file order."""
    docs = []
    for pos, name in (("noun", "n."), ("verb", "v."), ("adj", "adj."), ("adv", "adv.")):
        lines = (root / f"data.{pos}").read_text(encoding="latin-1").splitlines()
        entries = []
        for ln in lines:
            if ln.startswith("  ") or "|" not in ln:
                continue
            head, gloss = ln.split("|", 1)
            parts = head.split()
            words = [parts[4 + 2 * i].replace("_", " ") for i in range(int(parts[3], 16))]
            entries.append(f"{', '.join(words)} ({name}): {gloss.strip()}")
        docs += ["\n".join(entries[i : i + 12]) for i in range(0, len(entries), 12)]
    return docs


def _b64(s: str) -> int:
    alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    n = 0
    for ch in s:
        n = n * 64 + alpha.index(ch)
    return n


def gcide(root=Path("/usr/share/dictd")) -> list[str]:
    """Dictionary entries, 8 to a document."""
    data = gzip.open(root / "gcide.dict.dz").read()
    entries = []
    for ln in (root / "gcide.index").read_text(encoding="utf-8", errors="replace").splitlines():
        parts = ln.split("\t")
        if len(parts) != 3 or parts[0].startswith("00-database"):
            continue
        off, ln_ = _b64(parts[1]), _b64(parts[2])
        entries.append(data[off : off + ln_].decode("utf-8", errors="replace").strip())
    entries = list(dict.fromkeys(entries))
    return ["\n\n".join(entries[i : i + 8]) for i in range(0, len(entries), 8)]


def fortunes(root=Path("/usr/share/games/fortunes")) -> list[str]:
    """Each fortune is a document (offensive sets live under off/ and are not read)."""
    docs = []
    for p in sorted(root.iterdir()):
        if p.is_file() and not p.suffix and p.with_suffix(".dat").exists():
            docs += [d.strip() for d in p.read_text(encoding="utf-8", errors="replace").split("\n%\n") if d.strip()]
    return docs


def bible() -> list[str]:
    """One document per chapter, read with the `bible` program (package bible-kjv)."""
    books = ("Ge Ex Le Nu De Jos Jud Ru 1Sa 2Sa 1Ki 2Ki 1Ch 2Ch Ezr Ne Es Job Ps Pr Ec So Isa Jer La Eze Da Ho Joe "
             "Am Ob Jon Mic Na Hab Zep Hag Zec Mal Mt Mr Lu Joh Ac Ro 1Co 2Co Ga Eph Php Col 1Th 2Th 1Ti 2Ti Tit Phm "
             "Heb Jas 1Pe 2Pe 1Jo 2Jo 3Jo Jude Re").split()
    out = subprocess.run(["bible", "-f"] + [f"{b}1:1-{b}150:200" for b in books], capture_output=True, text=True).stdout
    chapters: dict[str, list[str]] = {}
    for ln in out.splitlines():
        ref, _, verse = ln.partition(" ")
        if ":" in ref and verse:
            chapters.setdefault(ref.split(":")[0], []).append(verse.strip())
    return [" ".join(v) for v in chapters.values()]


def python_stdlib(root=None) -> list[str]:
    """Python source files of the standard library (tests and vendored packages skipped), split at 6000 chars."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    docs = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if any(s in rel for s in ("test", "site-packages", "idlelib", "lib2to3", "__pycache__")):
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        docs += [f"# file: {rel}\n{text[i:i + 6000]}" for i in range(0, len(text), 6000)]
    return docs


SOURCES = {"wordnet": wordnet, "gcide": gcide, "fortunes": fortunes, "bible": bible, "python_stdlib": python_stdlib}


def main(argv=None) -> int:
    out = Path((argv or sys.argv[1:])[0])
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name, fn in SOURCES.items():
        docs = _cap(fn(), CAPS[name])
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps({"text": d, "source": name}) + "\n")
        summary[name] = {"documents": len(docs), "chars": sum(map(len, docs))}
        print(name, summary[name], file=sys.stderr)
    (out / "sources.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
