"""``TextEnum``: an enum whose members are also their text (``Run.MAIN == "main"``, usable as a dict key for the
text, written as the text in JSON and f-strings), for names that files, messages and the CLI carry as strings."""

from __future__ import annotations

from enum import Enum


class TextEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)
