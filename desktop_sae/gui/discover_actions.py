"""The main window's finders: the contrastive finder (Tools menu) and the features on a chat selection (the chat's
context menu). Each is one window kept for the main window's life; their actions end in sub-model calls, and the
main window shows the panel an action affects."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .contrast_finder import ContrastFinder
    from .main_window import MainWindow
    from .selection_features import SelectionFeatures


class DiscoverActions:
    def __init__(self, win: MainWindow):
        self.win = win
        self.contrast_finder: ContrastFinder | None = None
        self.selection_features: SelectionFeatures | None = None

    def _follow(self, w: ContrastFinder | SelectionFeatures) -> None:
        win = self.win
        w.steered.connect(lambda _f: win.show_panel("steering"))

        def show_inspected(_f: int) -> None:
            win.show_panel("features")
            win.show_panel("detail")

        w.inspectRequested.connect(show_inspected)

    def open_contrast_finder(self) -> ContrastFinder:
        if self.contrast_finder is None:
            from .contrast_finder import ContrastFinder

            self.contrast_finder = ContrastFinder(self.win.controller, self.win)
            self._follow(self.contrast_finder)
        self.contrast_finder.show()
        self.contrast_finder.raise_()
        self.contrast_finder.activateWindow()
        return self.contrast_finder

    def show_selection_features(self, tokens: list[tuple[str, int]], text: str = "") -> SelectionFeatures:
        if self.selection_features is None:
            from .selection_features import SelectionFeatures

            self.selection_features = SelectionFeatures(self.win.controller, self.win)
            self._follow(self.selection_features)
        self.selection_features.request(tokens, text)
        return self.selection_features
