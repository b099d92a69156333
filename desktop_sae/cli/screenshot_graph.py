"""``desktop-sae screenshot --why TEXT``: after the answer, "Why this token?" on the first answer token whose text is
TEXT, or on its N-th token for ``#N`` (from 0), as a right-click would; optionally ablate the graph's strongest
feature that raises the target; then grab the graph window."""

from __future__ import annotations

import sys
from typing import Any


def why_shot(app: Any, win: Any, text: str, ablate: bool, out: str, timeout: float,
             size: tuple[int, int] | None = None) -> int:
    from ..app.attribution_run import AnswerToken
    from ..app.lesson_trace import strongest_positive
    from ..core.engine.run_names import Run
    from .screenshot import settle, wait_for

    conv = win.controller.conversation
    events = list(conv.turns[-1].events.get(Run.MAIN, ())) if conv.turns else []
    if text.startswith("#") and text[1:].isdigit():
        n = int(text[1:])
        hit = events[n] if n < len(events) else None
    else:
        hit = next((e for e in events if e.text.strip() == text.strip()), None)
    if hit is None:
        print(f"error: no answer token {text!r} in {conv.last_answer()[:120]!r}", file=sys.stderr)
        win.close()
        return 2
    win.why_this_token(AnswerToken(Run.MAIN, hit.index, hit.text))
    view = win.graph_view
    if size is not None:
        view.resize(*size)
    wait_for(app, lambda: view.run.shown is not None or bool(view.run.error), timeout, "the graph")
    if view.run.error:
        print(f"error: {view.run.error}", file=sys.stderr)
        win.close()
        return 2
    graph = view.run.shown.graph
    note = f"{len(graph.nodes)} nodes, {len(graph.edges)} edges in {graph.seconds:.1f} s"
    if ablate:
        node = strongest_positive(graph)
        if node is not None:
            best = graph.nodes.index(node)
            view.select_node(best)
            view.panel.ablateRequested.emit()
            wait_for(app, lambda: not view.run.edit.running, timeout, "the ablation")
            note += f"; ablated {graph.nodes[best].key}: {view.panel.effect.text()}"
    settle(app, 0.3)
    view.canvas.fit(readable=True)
    settle(app, 0.3)
    ok = view.grab().save(out)
    win.close()
    print(f"{'saved' if ok else 'could not save'} {out}: why {hit.text!r}: {note}")
    return 0 if ok else 1
