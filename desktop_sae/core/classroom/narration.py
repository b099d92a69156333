"""Lesson narration is rich text in a small, safe HTML subset: a few tags, no attributes, no comments,
every tag closed (except <br>). ``check_narration`` says what is wrong, so a bad lesson is refused before a
widget ever renders it."""

from __future__ import annotations

from html.parser import HTMLParser

NARRATION_TAGS = ("b", "i", "em", "strong", "p", "br", "ul", "li", "code", "h3")


class _Narration(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problem: str | None = None
        self.stack: list[str] = []

    def _bad(self, msg: str) -> None:
        self.problem = self.problem or msg

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in NARRATION_TAGS:
            self._bad(f"tag <{tag}> is not allowed (allowed: {', '.join(NARRATION_TAGS)})")
        elif attrs:
            self._bad(f"tag <{tag}> may not have attributes")
        elif tag != "br":
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "br":
            self._bad(f"<{tag}/> is not allowed")
        elif attrs:
            self._bad("tag <br> may not have attributes")

    def handle_endtag(self, tag: str) -> None:
        if tag == "br":
            return
        if not self.stack or self.stack[-1] != tag:
            self._bad(f"</{tag}> does not close the open tag" + (f" <{self.stack[-1]}>" if self.stack else ""))
        else:
            self.stack.pop()

    def handle_comment(self, data: str) -> None:
        self._bad("comments are not allowed")

    def handle_decl(self, decl: str) -> None:
        self._bad("declarations are not allowed")

    def handle_pi(self, data: str) -> None:
        self.handle_decl(data)

    def unknown_decl(self, data: str) -> None:
        self.handle_decl(data)


def check_narration(html: str) -> str | None:
    """Why ``html`` is not in the safe narration subset, or None when it is."""
    p = _Narration()
    p.feed(html)
    p.close()
    if p.problem is None and p.stack:
        p.problem = f"<{p.stack[-1]}> is never closed"
    return p.problem
