"""What the dashboard and the session report say about a feature's name (HTML lines): where it comes from (the user's
label marked as the user's), the explanation's provenance and blind scores, and the demo-set tag."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from ..core.explanations.shown import NOT_SCORED
from ..core.features.naming import USER_MARK, LabelSource

if TYPE_CHECKING:
    from ..core.explanations.shown import ShownExplanations
    from ..core.features.catalog import FeatureCatalog


def about_html(cat: FeatureCatalog, explained: ShownExplanations | None, f: int) -> str:
    src, text = cat.label_source(f), cat.explanation_text(f)
    esc = html.escape
    lines = []
    if src is LabelSource.USER:
        lines.append(f"{USER_MARK} <b>your label</b>" + (f" · explanation: “{esc(text)}”" if text else ""))
    elif src is LabelSource.TOKENS:
        lines.append("<i>no explanation: named by its top tokens</i>")
    if text:
        how = explained.provenance(f) if explained is not None else ""
        lines.append(f"explanation by {esc(how)}" if how else "explanation")
        lines.append(f"blind scores: {esc(explained.score_text(f) if explained is not None else NOT_SCORED)}")
    if cat.demo_tag(f):
        lines.append(f"<span style='color:#b8860b'>{esc(cat.demo_tag(f))}</span>")
    return "<br>".join(lines)


def marked_name(cat: FeatureCatalog, f: int) -> str:
    """The feature's name, with ✎ after a user's label."""
    return cat.label(f) + (f"  {USER_MARK}" if cat.label_source(f) is LabelSource.USER else "")
