"""A one-line label that ends its text in "…" when it is narrower than the text (a long feature explanation in a
steering row), with the whole text in its tooltip; it never widens its layout."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", tooltip: str | None = None, parent=None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.full = ""
        self.set_full_text(text, tooltip)

    def set_full_text(self, text: str, tooltip: str | None = None) -> None:
        self.full = text
        self.setToolTip(text if tooltip is None else tooltip)
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = self.contentsRect().width()
        shown = self.fontMetrics().elidedText(self.full, Qt.TextElideMode.ElideRight, width) if width > 0 else ""
        super().setText(shown or self.full)
