"""The two tables of packaging/neurons/README.md, written from the shipped resources/neurons/neuron_view.json.

The README shows the layer comparison and the curated neurons; both are generated from the JSON so that they
cannot drift from what the view ships (tests/test_neurons.py checks that the README holds what this writes).

  python packaging/neurons/readme_tables.py          # rewrite the tables in README.md
  python packaging/neurons/readme_tables.py --check  # exit 1 if README.md is not up to date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VIEW = ROOT / "resources" / "neurons" / "neuron_view.json"
README = Path(__file__).with_name("README.md")


def layer_table(view: dict) -> str:
    """Candidates per compared layer, the chosen one in bold."""
    layers = view["layer_choice"]["layers"]
    chosen = str(view["layer_choice"]["chosen"])

    def cell(layer: str, value: object) -> str:
        return f"**{value}**" if layer == chosen else str(value)

    rows = [("layer", {L: L for L in layers}), ("candidates", {L: v["candidates"] for L, v in layers.items()}),
            ("with ≥ 4 topic groups", {L: v["four_or_more_groups"] for L, v in layers.items()})]
    out = [f"| {name} | " + " | ".join(cell(L, vals[L]) for L in layers) + " |" for name, vals in rows]
    out.insert(1, "|---" * (len(layers) + 1) + "|")
    return "\n".join(out)


def curated_table(view: dict) -> str:
    """The curated neurons in the view's order: the automatic description, the topics, the shipped note."""
    out = ["| neuron | description (automatic) | topics of its top contexts | the shipped note |", "|---|---|---|---|"]
    for n in view["curated"]:
        note = n["note"].replace("|", "\\|")
        out.append(f"| {n['neuron']} | {n['description']} | {', '.join(n['topics'])} | {note} |")
    return "\n".join(out)


TABLES = {"neuron-layers": layer_table, "neuron-curated": curated_table}


def render(readme: str, view: dict) -> str:
    """``readme`` with each ``<!-- NAME -->…<!-- /NAME -->`` block replaced by the table written from ``view``."""
    for name, table in TABLES.items():
        pattern = re.compile(rf"(<!-- {name} -->\n).*?(<!-- /{name} -->)", re.S)
        if not pattern.search(readme):
            raise ValueError(f"README.md has no <!-- {name} --> block")
        readme = pattern.sub(lambda m, t=table(view): m.group(1) + t + "\n" + m.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--check", action="store_true", help="only check that README.md is up to date")
    a = ap.parse_args(argv)
    old = README.read_text(encoding="utf-8")
    new = render(old, json.loads(VIEW.read_text(encoding="utf-8")))
    if a.check:
        if new != old:
            print("packaging/neurons/README.md differs from neuron_view.json: run readme_tables.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
