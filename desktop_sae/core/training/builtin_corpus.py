"""The built-in corpus recipe: text already on the machine, nothing downloaded.

Sources (``packaging/corpus/README.md`` gives versions and licences): WordNet 3.0 glosses, GCIDE dictionary
entries, fortune cookies and the KJV Bible when their Debian packages are installed (``wordnet-base dict-gcide
fortunes bible-kjv``), and the Python standard library's source (code and docstrings), which every machine that
runs this app has. Each source is capped in characters (``CAPS``, about 4 characters per token) so that no single
one dominates; with ``max_chars`` the caps shrink in proportion. Deterministic: the same packages give the same
documents. ``packaging/corpus/build_corpus.py`` writes these documents as JSONL files; the app's training dialog
does the same in its work folder.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import subprocess
import sysconfig
from collections.abc import Callable
from pathlib import Path

from ..support.errors import Cancelled

CAPS = {"wordnet": 2_000_000, "gcide": 2_400_000, "fortunes": 1_600_000, "bible": 3_200_000, "python_stdlib": 3_200_000}
WORDNET, DICTD, FORTUNES = Path("/usr/share/wordnet"), Path("/usr/share/dictd"), Path("/usr/share/games/fortunes")
CHARS_PER_TOKEN = 3.6  # measured with the SmolLM2 tokenizer over the five sources (README table)


def cap_documents(docs: list[str], cap: int, seed: int = 0) -> list[str]:
    """Shuffle (seeded) and keep documents until ``cap`` characters are reached."""
    random.Random(seed).shuffle(docs)
    out, n = [], 0
    for d in docs:
        if n >= cap:
            break
        out.append(d)
        n += len(d)
    return out


def wordnet(root: Path = WORDNET) -> list[str]:
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


def gcide(root: Path = DICTD) -> list[str]:
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


def fortunes(root: Path = FORTUNES) -> list[str]:
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


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def python_stdlib(root: Path | None = None) -> list[str]:
    """Python source files of the standard library (tests and vendored packages skipped), split at 6000 chars."""
    root = Path(root or stdlib_root())
    docs = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if any(s in rel for s in ("test", "site-packages", "idlelib", "lib2to3", "__pycache__")):
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        docs += [f"# file: {rel}\n{text[i:i + 6000]}" for i in range(0, len(text), 6000)]
    return docs


SOURCES: dict[str, Callable[[], list[str]]] = {"wordnet": wordnet, "gcide": gcide, "fortunes": fortunes,
                                               "bible": bible, "python_stdlib": python_stdlib}
_INSTALLED: dict[str, Callable[[], bool]] = {
    "wordnet": lambda: (WORDNET / "data.noun").is_file(),
    "gcide": lambda: (DICTD / "gcide.index").is_file() and (DICTD / "gcide.dict.dz").is_file(),
    "fortunes": lambda: FORTUNES.is_dir(),
    "bible": lambda: shutil.which("bible") is not None,
    "python_stdlib": lambda: stdlib_root().is_dir(),
}


def installed_sources() -> tuple[str, ...]:
    """The recipe's sources present on this machine, in recipe order."""
    return tuple(name for name in SOURCES if _INSTALLED[name]())


def source_caps(sources: tuple[str, ...], max_chars: int | None = None) -> dict[str, int]:
    """Character caps per source; with ``max_chars`` they shrink in proportion so that they sum to it at most."""
    caps = {s: CAPS[s] for s in sources}
    total = sum(caps.values())
    if max_chars is not None and total > max_chars:
        caps = {s: max(1, int(c * max_chars / total)) for s, c in caps.items()}
    return caps


def chars_for_tokens(tokens: int, held_out: float = 0.02) -> int:
    """Characters to read for about ``tokens`` training tokens (a 25 % margin for the held-out split and variance)."""
    return int(tokens * CHARS_PER_TOKEN * 1.25 / max(1e-6, 1 - held_out))


def builtin_documents(sources: tuple[str, ...] | None = None, max_chars: int | None = None,
                      cancelled: Callable[[], bool] | None = None) -> dict[str, list[str]]:
    """Capped documents of each source (default: every installed one); ``cancelled()`` is checked per source."""
    out = {}
    for name, cap in source_caps(sources or installed_sources(), max_chars).items():
        if cancelled is not None and cancelled():
            raise Cancelled("building the corpus was cancelled")
        out[name] = cap_documents(SOURCES[name](), cap)
    return out


def write_jsonl(folder: str | Path, docs: dict[str, list[str]],
                summary: str | Path | None = None) -> dict[str, dict[str, int]]:
    """One ``<source>.jsonl`` of {"text", "source"} per source; returns (and, to ``summary``, writes as JSON, last)
    the documents and characters per source. Keep ``summary`` out of ``folder`` when the folder is a corpus: a
    .json file there would be read as a document."""
    from ..support.atomic import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, texts in docs.items():
        atomic_write_text(folder / f"{name}.jsonl", "".join(json.dumps({"text": d, "source": name}) + "\n"
                                                            for d in texts))
        out[name] = {"documents": len(texts), "chars": sum(map(len, texts))}
    if summary is not None:
        atomic_write_text(summary, json.dumps(out, indent=1))
    return out
