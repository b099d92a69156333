"""How a feature is named, in one rule: the user's label, else its explanation (``explanations.json`` beside the
SAE), else the automatic token label; ``LabelSource`` says which, so views can mark a user's label as the user's.
Membership of a demo set is a tag beside the name, never the name."""

from __future__ import annotations

from typing import Protocol

from ..support.text_enum import TextEnum

USER_MARK = "✎"  # shown beside a label the user wrote
DEMO_TAG = "demo set: "
DEMO_MARK = "◆"  # before the name of a demo-set member where the tag itself may not fit (the feature list)
NARROW_CHARS = 48  # a name in a narrow place (a steering row, a menu item) is cut to this; a tooltip has it all


class LabelSource(TextEnum):
    USER = "user"  # the user's own label (labels.user.json)
    EXPLANATION = "explanation"  # an explanation written by an explainer (core.explanations)
    TOKENS = "tokens"  # the dictionary's automatic token-fragment label (or none)


class Explained(Protocol):
    """What the catalog needs of an explanation (``core.explanations.store.Explanation`` has it)."""

    @property
    def text(self) -> str: ...


def demo_tag(titles: tuple[str, ...]) -> str:
    """'demo set: Golden Gate Bridge · music' for a feature in those demo sets; '' for none."""
    return DEMO_TAG + " · ".join(titles) if titles else ""


def elide(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"
