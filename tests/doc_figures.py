"""Every measured figure in the README and the docs traces to a results file under ``docs/results/``.

A *figure* is a number written as a measurement: one with a decimal point, a percentage, a multiple (``2.1×``), a
time, size or rate (``0.3 s``, ``944 MB``, ``31.9 tok/s``) or a count out of a total (``9/20``, ``16 of 20``).
Bare integers ("8 192 features", "layer 12") are names and settings and are not checked.

Each block of a document (a paragraph, a list item, a table) draws its figures from the results files it names,
or, failing that, from those named anywhere in its section (the text under the same heading). A figure traces
when a number in those files' ``summary`` — the few values the command that wrote the file computed for the docs
to quote, each keyed by what it is and its statistic (``ready_s_median``) — rounded as the document prints it,
equals it (in the units the figure states: a percentage may be stored as a fraction, milliseconds as seconds).
Matching against the summary alone, not the raw data, keeps a figure from tracing to a number that merely
happens to round the same. Figures that are not measurements — a goal, a
setting, a fact about someone else's tool — are listed with the reason in ``docs/results/unmeasured/*.json``.

``python tests/doc_figures.py`` prints every figure that does not trace, with its document and line;
``--explain`` prints where each figure was found, to check that a figure traced to the number it quotes.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
UNMEASURED = RESULTS / "unmeasured"  # one JSON per part of the docs: {"figures": [{"doc", "text", "why"}, ...]}
DOCS = ("README.md", "docs/*.md", "packaging/*/README.md")

_NUM = r"[−+-]?\d{1,3}(?:[  ]\d{3})+(?:\.\d+)?|[−+-]?\d+(?:\.\d+)?"
_UNIT = r"%|×|ms|s|MB|GB/s|GB|KB|kB|tok/s|tokens/s|min|minutes|seconds|nats|dB|Hz"
FIGURE = re.compile(
    rf"(?<![\w.#/=@-])(?:×\s?(?P<xnum>{_NUM})(?:[–-](?P<xnum2>{_NUM}))?"
    rf"|(?P<num>{_NUM})(?:\s?[–-]\s?(?P<num2>{_NUM}))?\s?(?P<unit>{_UNIT})(?![\w/])"
    rf"|(?P<a>\d+)\s?(?:/|of)\s?(?P<b>\d{{1,3}}(?:[  ]\d{{3}})+|\d+)(?![\w/]|\.\d)"
    rf"|(?P<dec>[−+-]?\d+\.\d+)(?:\s?[–-]\s?(?P<dec2>\d+\.\d+))?(?!\w|\.\d))")
RESULTS_PATH = re.compile(r"docs/results/[\w./*-]+?\.json")
SHORT_STRING = 40
SCALES = {"%": (100.0, 1.0), "ms": (1.0, 1000.0), "s": (1.0, 0.001, 1 / 60), "MB": (1.0, 1e-6, 2.0 ** -20),
          "GB": (1.0, 1e-9, 2.0 ** -30), "GB/s": (1.0, 1e-9, 2.0 ** -30), "KB": (1.0, 1e-3, 2.0 ** -10),
          "kB": (1.0, 1e-3, 2.0 ** -10), "min": (1.0, 1 / 60), "minutes": (1.0, 1 / 60),
          "seconds": (1.0, 0.001), "": (1.0, 100.0)}


@dataclass(frozen=True)
class Figure:
    doc: str
    line: int
    text: str          # the figure as written
    values: tuple[float, ...]
    decimals: tuple[int, ...]
    unit: str
    fraction: tuple[int, int] | None
    sources: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text!r} (sources: {', '.join(self.sources) or 'none named'})"


def _number(text: str) -> tuple[float, int]:
    t = text.replace("−", "-").replace(" ", "").replace(" ", "")
    return float(t), len(t.split(".")[1]) if "." in t else 0


def doc_paths() -> list[Path]:
    return [p for pattern in DOCS for p in sorted(ROOT.glob(pattern))]


def _blank(match: re.Match[str]) -> str:
    return "".join("\n" if c == "\n" else " " for c in match.group(0))


def _prose(text: str) -> str:
    """The text with code blocks, inline code, generated tables, links' targets and images blanked (same length)."""
    text = re.sub(r"```.*?```", _blank, text, flags=re.S)
    text = re.sub(r"<!-- demo-table -->.*?<!-- /demo-table -->", _blank, text, flags=re.S)
    text = re.sub(r"<!--.*?-->", _blank, text, flags=re.S)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", _blank, text)
    text = re.sub(r"\]\([^)]*\)", _blank, text)
    return re.sub(r"`[^`\n]*`", _blank, text)


def _sections(raw: str) -> Iterator[tuple[int, str, str]]:
    """(first line, raw text, prose) of each block, grouped by heading: yields blocks with their section's raw text."""
    lines = raw.split("\n")
    starts = [i for i, ln in enumerate(lines) if ln.startswith("#")] + [len(lines)]
    if not starts or starts[0] != 0:
        starts = [0, *starts]
    for a, b in zip(starts, starts[1:]):
        yield a, "\n".join(lines[a:b]), _prose("\n".join(lines[a:b]))


def _blocks(section: str) -> Iterator[tuple[int, int]]:
    """(start offset, end offset) of each paragraph, list item or table in a section."""
    start = 0
    for m in re.finditer(r"\n\s*\n|\n(?=\s*(?:[-*]|\d+\.) )", section + "\n\n"):
        if section[start:m.start()].strip():
            yield start, m.start()
        start = m.end()


def _name(doc: Path) -> str:
    return str(doc.relative_to(ROOT)) if doc.is_relative_to(ROOT) else str(doc)


def results_files() -> list[Path]:
    """Every results file (``unmeasured/`` lists the exemptions; it holds no results)."""
    return [p for p in sorted(RESULTS.rglob("*.json")) if UNMEASURED not in p.parents]


def _named_results(text: str) -> list[str]:
    """The results files a text names (a glob such as ``docs/results/steer_eval/*.json`` names each match)."""
    out = []
    for name in RESULTS_PATH.findall(text):
        out += [str(p.relative_to(ROOT)) for p in sorted(ROOT.glob(name))] if "*" in name else [name]
    return out


def figures(doc: Path) -> list[Figure]:
    raw = doc.read_text(encoding="utf-8")
    out: list[Figure] = []
    for first_line, sec_raw, sec_prose in _sections(raw):
        sec_sources = _named_results(sec_raw)
        for a, b in _blocks(sec_raw):
            sources = _named_results(sec_raw[a:b]) or sec_sources
            for m in FIGURE.finditer(sec_prose[a:b]):
                line = first_line + sec_raw[:a + m.start()].count("\n") + 1
                g = m.groupdict()
                if g["a"]:
                    vals, decs, unit, frac = (), (), "", (int(g["a"]), int(_number(g["b"])[0]))
                else:
                    nums = [g[k] for k in ("xnum", "xnum2", "num", "num2", "dec", "dec2") if g[k]]
                    parsed = [_number(n) for n in nums]
                    vals, decs = tuple(v for v, _ in parsed), tuple(d for _, d in parsed)
                    unit, frac = ("×" if g["xnum"] else g["unit"] or ""), None
                out.append(Figure(_name(doc), line, m.group(0).strip(), vals, decs, unit, frac,
                                  tuple(dict.fromkeys(sources))))
    return out


def _leaves(node: object, path: str = "") -> Iterator[tuple[str, float | str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{path}[{i}]")
    elif isinstance(node, bool) or node is None:
        return
    elif isinstance(node, (int, float)):
        if math.isfinite(node):
            yield path, float(node)
    elif isinstance(node, str):
        yield path, node


@cache
def source_numbers(path: str) -> tuple[tuple[tuple[str, float], ...], str]:
    """((key, number), ...) and all strings joined, from a results file's ``summary``."""
    data = json.loads((ROOT / path).read_text(encoding="utf-8"))
    nums: list[tuple[str, float]] = []
    strings = []
    for where, leaf in _leaves(data.get("summary", {}) if isinstance(data, dict) else {}, "summary"):
        if isinstance(leaf, str):
            strings.append(leaf)
            if len(leaf) <= SHORT_STRING:  # a value written as text ("9/20", "0.75x")
                nums.extend((where, _number(t)[0]) for t in re.findall(r"-?\d+(?:\.\d+)?", leaf))
        else:
            nums.append((where, leaf))
    return tuple(nums), "\n".join(strings)


def _match(value: float, decimals: int, unit: str, numbers: Iterable[tuple[str, float]]) -> str | None:
    """The JSON path of the first number that equals ``value`` as printed, or None."""
    half = 0.5 * 10.0 ** -decimals + 1e-9
    target = abs(value)
    scales = SCALES.get(unit, (1.0,))
    return next((w for w, n in numbers if any(abs(abs(n) * s - target) <= half for s in scales)), None)


def trace(fig: Figure) -> list[str] | None:
    """Where each of the figure's numbers was found (``file: JSON path``), or None when one of them was not."""
    if not fig.sources or not all((ROOT / s).is_file() for s in fig.sources):
        return None
    nums = [(f"{s}: {w}", n) for s in fig.sources for w, n in source_numbers(s)[0]]
    if fig.fraction:
        a, b = fig.fraction
        ratio = a / b if b else math.inf
        text = "\n".join(source_numbers(s)[1] for s in fig.sources)
        if f"{a}/{b}" in text:
            return [f"the text {a}/{b}"]
        hit = next((w for w, n in nums if abs(n - ratio) < 5e-4), None)
        if hit:
            return [hit]
        wa, wb = (next((w for w, n in nums if n == x), None) for x in (a, b))
        return [wa, wb] if wa and wb else None
    hits = [_match(v, d, fig.unit, nums) for v, d in zip(fig.values, fig.decimals)]
    return None if None in hits else [h for h in hits if h]


def traces(fig: Figure) -> bool:
    return trace(fig) is not None


def unmeasured() -> list[dict[str, str]]:
    """The exemptions: ``{"doc", "text", "why"}``; every figure inside ``text`` in ``doc`` is not a measurement."""
    return [e for p in sorted(UNMEASURED.glob("*.json")) for e in json.loads(p.read_text(encoding="utf-8"))["figures"]]


def exempt(fig: Figure, raw_docs: dict[str, str], spans: dict[str, list[tuple[int, int]]]) -> bool:
    raw = raw_docs[fig.doc]
    offset = sum(len(ln) + 1 for ln in raw.split("\n")[:fig.line - 1])
    line_end = raw.find("\n", offset)
    # where the figure stands whole on its line ("5 %" is not the end of "3.15 %")
    at = [offset + m.start() for m in re.finditer(r"(?<![\d.,])" + re.escape(fig.text), raw[offset:line_end])]
    return any(a <= i < b for i in at for a, b in spans.get(fig.doc, []))


def exemption_spans(raw_docs: dict[str, str]) -> tuple[dict[str, list[tuple[int, int]]], list[dict[str, str]]]:
    """Where each exemption's text sits, and the exemptions whose text is no longer in their document."""
    spans: dict[str, list[tuple[int, int]]] = {}
    stale = []
    for e in unmeasured():
        raw = raw_docs.get(e["doc"], "")
        found = [m.start() for m in re.finditer(re.escape(e["text"]), raw)]
        if not found:
            stale.append(e)
        spans.setdefault(e["doc"], []).extend((i, i + len(e["text"])) for i in found)
    return spans, stale


def untraced() -> tuple[list[Figure], list[dict[str, str]]]:
    """Figures that neither trace to a results file nor sit in an exemption, and exemptions that went stale."""
    raw_docs = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in doc_paths()}
    spans, stale = exemption_spans(raw_docs)
    bad = [f for p in doc_paths() for f in figures(p) if not traces(f) and not exempt(f, raw_docs, spans)]
    return bad, stale


if __name__ == "__main__":
    if "--explain" in sys.argv:  # where each traced figure was found, to check that it is the right number
        for p in doc_paths():
            for f in figures(p):
                print(f"{f.doc}:{f.line}: {f.text!r} -> {trace(f)}")
        sys.exit(0)
    missing, stale_entries = untraced()
    for f in missing:
        print(f)
    for e in stale_entries:
        print(f"stale exemption in {e['doc']}: {e['text']!r}")
    total = sum(len(figures(p)) for p in doc_paths())
    print(f"{len(missing)} of {total} figures do not trace; {len(stale_entries)} stale exemptions")
    sys.exit(1 if missing or stale_entries else 0)
