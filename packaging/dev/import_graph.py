"""Count the import arrows inside a package with grimp (installed with import-linter) and write them as JSON.

    python packaging/dev/import_graph.py [--package desktop_sae.core] [--src DIR] [--json out.json]

An arrow is one module importing another module of the package (at the top of the file, inside a function, or
for type checking only; a package's ``__init__`` counts as a module). Levels: the longest chain of arrows, each
module standing one level above everything it imports (modules that import each other in a cycle share a level;
the cycles are listed). The same is counted between the package's first-level parts ("parts": a subpackage, or a
module directly in the package).
``--src`` reads another checkout (for example a worktree of an earlier commit) instead of this one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the cycles (components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges[nxt]))))
                elif nxt in on_stack:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def measure(package: str) -> dict:
    import grimp

    graph = grimp.build_graph(package.split(".")[0])
    nodes = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    edges = {m: {t for t in graph.find_modules_directly_imported_by(m) if t in nodes and t != m} for m in nodes}
    depth = package.count(".") + 1
    part = {m: ".".join(m.split(".")[: depth + 1]) for m in nodes if m != package}
    parts = sorted(set(part.values()))
    part_edges = {p: set() for p in parts}
    for m, ts in edges.items():
        for t in ts:
            if m in part and t in part and part[m] != part[t]:
                part_edges[part[m]].add(part[t])
    return {**_layered(nodes, edges), "parts": {k: v for k, v in _layered(parts, part_edges).items()
                                              if k != "by_level"}, "part_names": parts}


def _layered(nodes: list[str], edges: dict[str, set[str]]) -> dict:
    cycles = strongly_connected(nodes, edges)
    comp_of = {m: i for i, c in enumerate(cycles) for m in c}
    level: dict[str, int] = {}

    def lvl(m: str) -> int:
        if m in level:
            return level[m]
        group = cycles[comp_of[m]] if m in comp_of else [m]
        below = {t for g in group for t in edges[g]} - set(group)
        v = 1 + max((lvl(t) for t in below), default=0)
        for g in group:
            level[g] = v
        return v

    sys.setrecursionlimit(10_000)
    for m in nodes:
        lvl(m)
    return {
        "modules": len(nodes),
        "arrows": sum(len(v) for v in edges.values()),
        "levels": max(level.values(), default=0),
        "cycles": cycles,
        "by_level": {str(k): sorted(m for m in nodes if level[m] == k) for k in sorted(set(level.values()))},
    }


def _packages(res: dict) -> set[str]:
    """The parts that are packages: those with a module below them."""
    mods = [m for level in res["by_level"].values() for m in level]
    return {p for p in res["part_names"] if any(m.startswith(p + ".") for m in mods)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", default="desktop_sae.core")
    ap.add_argument("--src", default=None, help="a checkout to read instead of this one")
    ap.add_argument("--json", default=None, help="write the result here")
    a = ap.parse_args()
    src = Path(a.src or Path(__file__).resolve().parents[2]).resolve()
    if a.src:  # measure in a child process, so that the other checkout's package is the one imported
        here = str(Path(__file__).parent)
        code = f"import sys, json; sys.path.insert(0, {str(src)!r}); sys.path.insert(0, {here!r}); " \
               f"import import_graph; print(json.dumps(import_graph.measure({a.package!r})))"
        res = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                        cwd=src).stdout)
    else:
        sys.path.insert(0, str(src))
        res = measure(a.package)
    commit = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    res = {"package": a.package, "commit": commit, **res}
    parts = res["parts"]
    summary = {"modules": res["modules"], "arrows": res["arrows"], "levels": res["levels"],
               "cycles": len(res["cycles"]), "modules_in_cycles": sum(len(c) for c in res["cycles"]),
               "parts": parts["modules"], "part_arrows": parts["arrows"], "part_levels": parts["levels"],
               "part_cycles": len(parts["cycles"]),
               "single_module_parts": sum(1 for p in res["part_names"] if p not in _packages(res))}
    if a.json:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from desktop_sae.core.support.results_file import write_results

        write_results(a.json, {"summary": summary, **res})
    print(f"{res['package']} at {commit}: {res['modules']} modules, {res['arrows']} import arrows over "
          f"{res['levels']} levels, {len(res['cycles'])} cycles; {parts['modules']} parts, {parts['arrows']} arrows "
          f"between them over {parts['levels']} levels, {len(parts['cycles'])} cycles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
