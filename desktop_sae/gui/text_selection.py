"""Which tokens of a transcript a mouse selection covers (token anchors are ``tok:<run>:<index>``)."""

from __future__ import annotations

from PySide6.QtWidgets import QTextBrowser


def selected_tokens(view: QTextBrowser) -> list[tuple[str, int]]:
    """(run, index) of every token anchor (``tok:<run>:<index>``) the selection of a ``Transcript`` touches."""
    cur = view.textCursor()
    if not cur.hasSelection():
        return []
    lo, hi = cur.selectionStart(), cur.selectionEnd()
    out, doc = [], view.document()
    block = doc.findBlock(lo)
    while block.isValid() and block.position() < hi:
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            a, b = frag.position(), frag.position() + frag.length()
            href = frag.charFormat().anchorHref() if frag.charFormat().isAnchor() else ""
            if b > lo and a < hi and href.startswith("tok:"):
                _, run, idx = href.split(":", 2)
                out.append((run, int(idx)))
            it += 1
        block = block.next()
    return list(dict.fromkeys(out))
