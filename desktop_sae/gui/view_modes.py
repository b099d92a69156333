"""Layouts of the main window: advanced (every panel), simple (chat, the demo's sliders and one live plot) and
presentation (F11: full screen, everything ≥ 1.6× larger and high contrast for a projector, advanced panels
hidden). Each mode only shows, hides and scales widgets; leaving it restores the user's own layout."""

from __future__ import annotations

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

SIMPLE_DOCKS = ("steering", "strip")
PRESENTATION_SCALE = 1.6


class ViewModes:
    """Mixed into ``MainWindow`` (uses its ``docks``, ``set_theme`` and ``settings``)."""

    _saved_layout = None
    _saved_font: QFont | None = None
    mode = "advanced"
    presenting = False

    def set_simple(self, simple: bool) -> None:
        if simple == (self.mode == "simple"):
            return
        if simple:
            self._saved_layout = self.saveState()
            for key, dock in self.docks.items():
                dock.setVisible(key in SIMPLE_DOCKS)
            self.mode = "simple"
        else:
            if self._saved_layout is not None:
                self.restoreState(self._saved_layout)
            self.mode = "advanced"
        self.act_simple.setChecked(simple)

    def set_presentation(self, on: bool) -> None:
        """Projector mode: full screen, fonts and sliders × PRESENTATION_SCALE, dark high-contrast theme."""
        if on == self.presenting:
            return
        app = QApplication.instance()
        if on:
            self._saved_font = QFont(app.font())
            self._saved_theme = next((k for k, a in self.theme_actions.items() if a.isChecked()), "system")
            self._was_simple = self.mode == "simple"
            f = QFont(self._saved_font)
            f.setPointSizeF(max(self._saved_font.pointSizeF(), 9.0) * PRESENTATION_SCALE)
            app.setFont(f)  # dialogs and new windows
            self.setFont(f)  # this window's widgets, at once
            self.set_simple(True)
            self.set_theme("dark")
            self.showFullScreen()
        else:
            app.setFont(self._saved_font)
            self.setFont(self._saved_font)
            if not self._was_simple:
                self.set_simple(False)
            self.set_theme(self._saved_theme)
            self.showNormal()
        self.presenting = on
        self.act_present.setChecked(on)
        for w in (self.chat.main_view, self.chat.default_view):  # transcripts keep their own document font
            w.document().setDefaultFont(app.font())
        self.chat.rerender()
