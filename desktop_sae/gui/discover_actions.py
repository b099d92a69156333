"""The main window's finders: the contrastive finder (Tools menu) and the features on a chat selection (the chat's
context menu). Each is one window kept for the main window's life; their actions end in controller calls, and the
window shows the panel an action affects."""

from __future__ import annotations


class DiscoverActions:
    """Mixed into ``MainWindow`` (uses its ``controller`` and ``show_panel``)."""

    contrast_finder = None
    selection_features = None

    def _follow(self, w) -> None:
        w.steered.connect(lambda _f: self.show_panel("steering"))
        w.inspectRequested.connect(lambda _f: (self.show_panel("features"), self.show_panel("detail")))

    def open_contrast_finder(self):
        if self.contrast_finder is None:
            from .contrast_finder import ContrastFinder

            self.contrast_finder = ContrastFinder(self.controller, self)
            self._follow(self.contrast_finder)
        self.contrast_finder.show()
        self.contrast_finder.raise_()
        self.contrast_finder.activateWindow()
        return self.contrast_finder

    def show_selection_features(self, tokens, text: str = ""):
        if self.selection_features is None:
            from .selection_features import SelectionFeatures

            self.selection_features = SelectionFeatures(self.controller, self)
            self._follow(self.selection_features)
        self.selection_features.request(tokens, text)
        return self.selection_features
