"""The text of a token's hover tooltip: its strongest features and the model's top next-token alternatives
(softmax at temperature 1, before penalties) for this run and, side by side, for the other run at the same
position."""

from __future__ import annotations

import html

from ..core.engine.run_names import Run
from ..core.features.naming import elide

RUN_NAMES = {Run.MAIN: "", Run.STEERED: "steered", Run.DEFAULT: "default"}
NAME_CHARS = 96  # a feature's name in a tooltip line: a long explanation ends in "…" (its dashboard shows it all)


def _show(text: str) -> str:
    return repr(text)  # quotes show leading spaces and newlines


def alternatives_lines(ev) -> list[str]:
    """'  ' the'   42.1%' lines, the token the run chose marked with ◀."""
    chosen = ev.text
    width = max((len(_show(t)) for t, _ in ev.alternatives), default=0)
    return [f"  {_show(t):<{width}}  {100 * p:5.1f}%" + ("  ◀" if t == chosen else "")
            for t, p in ev.alternatives]


def token_tooltip(ev, label=lambda f: "", other=None, n_features: int = 8) -> str:
    lines = [_show(ev.text) + ("" if ev.prob is None else f"   p = {100 * ev.prob:.1f}%")]
    if ev.top_ids is not None:
        lines += [f"#{int(i)}  {float(v):.2f}  {elide(label(int(i)), NAME_CHARS)}"
                  for i, v in zip(ev.top_ids[:n_features], ev.top_vals[:n_features]) if v > 0]
    if ev.alternatives:
        run = RUN_NAMES.get(ev.run, ev.run)
        lines.append(f"Next-token alternatives{f' ({run})' if run else ''}:")
        lines += alternatives_lines(ev)
    if other is not None and other.alternatives:
        lines.append(f"{RUN_NAMES.get(other.run, other.run).capitalize()} at this position "
                     f"(chose {_show(other.text)}):")
        lines += alternatives_lines(other)
    return "\n".join(lines)


def as_html(text: str) -> str:
    """The tooltip text in a fixed-width font, so the probabilities line up."""
    return f"<pre style='margin:0'>{html.escape(text)}</pre>"
