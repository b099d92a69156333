"""Where the attribution graph's nodes go (no Qt): one column per context position, the prompt tokens along the
bottom, one row per SAE depth above them, the target on top. A column is as wide as its busiest cell; positions
with nothing but their token stay narrow."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..core.attribution.graph import AttributionGraph, Edge, NodeKind

SLOT_W = 100.0  # a feature node with its two-line name
ERR_W = 34.0  # an error node (no name under it)
ROW_H = 136.0
MIN_COL = 40.0
PER_LINE = 5  # feature slots in one line of a cell; more wrap to the next line
LINE_H = 62.0  # a wrapped line of a cell, below the one before
R_MIN, R_MAX = 5.0, 17.0  # node radius by |effect|
MAX_EDGES = 150  # the strongest edges drawn


@dataclass(frozen=True)
class Placed:
    index: int  # into graph.nodes
    x: float
    y: float
    r: float


@dataclass(frozen=True)
class Layout:
    nodes: tuple[Placed, ...]  # in graph.nodes order
    rows: tuple[tuple[str, float], ...]  # (row title, y)
    columns: tuple[tuple[float, float], ...]  # per position: (left x, width)
    width: float
    height: float
    edges: tuple[Edge, ...]  # the ones drawn, weakest first (the strong ones paint on top)
    n_edges: int  # all the graph's edges


def strongest_edges(graph: AttributionGraph, n: int = MAX_EDGES) -> tuple[Edge, ...]:
    """The ``n`` strongest edges by |weight|, weakest first."""
    return tuple(sorted(sorted(graph.edges, key=lambda e: -abs(e.weight))[:n], key=lambda e: abs(e.weight)))


def row_titles(graph: AttributionGraph, loaded_layer: int | None) -> list[str]:
    """Bottom to top: the tokens, each depth, the output."""
    return ["tokens", *(f"layer {d}" + (" (loaded SAE)" if d == loaded_layer else "") for d in graph.depths),
            "output"]


def _lines(members: list[int], slot: Callable[[int], float]) -> list[list[int]]:
    """A cell's nodes in lines no wider than ``PER_LINE`` feature slots."""
    lines: list[list[int]] = [[]]
    for i in members:
        if lines[-1] and sum(slot(j) for j in lines[-1]) + slot(i) > PER_LINE * SLOT_W:
            lines.append([])
        lines[-1].append(i)
    return lines


def layout(graph: AttributionGraph, token_width: Callable[[int], float], loaded_layer: int | None = None,
           left: float = 96.0, top: float = 56.0, max_edges: int = MAX_EDGES) -> Layout:
    """Positions for every node; ``token_width(p)`` is the width the token at position ``p`` needs. A busy cell
    wraps into lines below its first (its row grows)."""
    n_pos = len(graph.tokens)
    rows = {d: i + 1 for i, d in enumerate(graph.depths)}
    top_row = len(graph.depths) + 1
    members: dict[tuple[int, int], list[int]] = {}
    for i, n in enumerate(graph.nodes):
        if n.kind in (NodeKind.FEATURE, NodeKind.ERROR):
            members.setdefault((rows[n.layer], n.position), []).append(i)

    def slot(i: int) -> float:
        return ERR_W if graph.nodes[i].kind is NodeKind.ERROR else SLOT_W

    cells: dict[tuple[int, int], list[list[int]]] = {}
    for key, m in members.items():  # features strongest first, the error last
        cells[key] = _lines(sorted(m, key=lambda i: (graph.nodes[i].kind is NodeKind.ERROR,
                                                     -abs(graph.nodes[i].effect))), slot)
    busiest = [0.0] * n_pos
    n_lines = [1] * (top_row + 1)
    for (row, p), lines in cells.items():
        busiest[p] = max(busiest[p], *(sum(slot(i) for i in line) for line in lines))
        n_lines[row] = max(n_lines[row], len(lines))
    widths = [max(MIN_COL, token_width(p), busiest[p]) for p in range(n_pos)]
    columns, x = [], left
    for w in widths:
        columns.append((x, w))
        x += w
    ys, y = [0.0] * (top_row + 1), top + R_MAX
    for r in range(top_row, -1, -1):  # top down: the output, the depths, the tokens
        ys[r] = y
        y += ROW_H + (n_lines[r] - 1) * LINE_H
    scale = max((abs(n.effect) for n in graph.nodes if n.kind is not NodeKind.TARGET), default=0.0) or 1.0

    def radius(effect: float) -> float:
        return R_MIN + (R_MAX - R_MIN) * math.sqrt(min(abs(effect) / scale, 1.0))

    placed: list[Placed] = []
    for i, n in enumerate(graph.nodes):
        cx = columns[n.position][0] + columns[n.position][1] / 2 if 0 <= n.position < n_pos else left
        if n.kind is NodeKind.TOKEN:
            placed.append(Placed(i, cx, ys[0], radius(n.effect)))
        elif n.kind is NodeKind.TARGET:
            placed.append(Placed(i, cx, ys[top_row], R_MAX))
        else:
            row = rows[n.layer]
            k, line = next((k, ln) for k, ln in enumerate(cells[(row, n.position)]) if i in ln)
            x0 = cx - sum(slot(j) for j in line) / 2 + sum(slot(j) for j in line[:line.index(i)])
            placed.append(Placed(i, x0 + slot(i) / 2, ys[row] + k * LINE_H, radius(n.effect)))
    titles = row_titles(graph, loaded_layer)
    return Layout(tuple(placed), tuple((titles[r], ys[r]) for r in range(top_row + 1)), tuple(columns),
                  x + 24.0, ys[0] + ROW_H * 0.55, strongest_edges(graph, max_edges), len(graph.edges))


def two_lines(text: str, fits: Callable[[str], bool]) -> tuple[str, str]:
    """``text`` broken into at most two lines that ``fits``, at a space when it can; the second ends in "…" when
    cut."""
    if fits(text):
        return text, ""
    words, first = text.split(" "), ""
    for k in range(len(words), 0, -1):
        head = " ".join(words[:k])
        if fits(head):
            first, rest = head, " ".join(words[k:])
            break
    else:
        cut = max((j for j in range(1, len(text) + 1) if fits(text[:j])), default=1)
        first, rest = text[:cut], text[cut:]
    if fits(rest):
        return first, rest
    keep = max((j for j in range(len(rest) + 1) if fits(rest[:j] + "…")), default=0)
    return first, rest[:keep].rstrip() + "…"


def shown_token(text: str) -> str:
    """A token as a label: spaces, newlines and tabs made visible."""
    return text.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥") or "∅"


def sign_word(value: float) -> str:
    return "raises" if value >= 0 else "lowers"

