"""Layouts of the main window: advanced (every panel), simple (chat, the demo's sliders and one live plot) and
presentation (F11: full screen, everything ≥ 1.6× larger and high contrast for a projector, advanced panels
hidden). Each mode only shows, hides and scales widgets; leaving it restores the user's own layout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from ..core.support.text_enum import TextEnum

if TYPE_CHECKING:
    from .main_window import MainWindow

SIMPLE_DOCKS = ("steering", "strip")
PRESENTATION_SCALE = 1.6


class Layout(TextEnum):
    ADVANCED = "advanced"
    SIMPLE = "simple"


class ViewModes:
    def __init__(self, win: MainWindow):
        self.win = win
        self.mode = Layout.ADVANCED
        self.presenting = False
        self._saved_layout: QByteArray | None = None
        self._saved_font: QFont | None = None
        self._saved_theme = "system"
        self._was_simple = False

    def set_simple(self, simple: bool) -> None:
        win = self.win
        if simple == (self.mode == Layout.SIMPLE):
            return
        if simple:
            self._saved_layout = win.saveState()
            for key, dock in win.docks.items():
                dock.setVisible(key in SIMPLE_DOCKS)
            self.mode = Layout.SIMPLE
        else:
            if self._saved_layout is not None:
                win.restoreState(self._saved_layout)
            self.mode = Layout.ADVANCED
        win.menu_actions.simple.setChecked(simple)

    def set_presentation(self, on: bool) -> None:
        """Projector mode: full screen, fonts and sliders × PRESENTATION_SCALE, dark high-contrast theme."""
        win = self.win
        if on == self.presenting:
            return
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        if on:
            self._saved_font = QFont(app.font())
            self._saved_theme = next((k for k, a in win.menu_actions.themes.items() if a.isChecked()), "system")
            self._was_simple = self.mode == Layout.SIMPLE
            f = QFont(self._saved_font)
            f.setPointSizeF(max(self._saved_font.pointSizeF(), 9.0) * PRESENTATION_SCALE)
            app.setFont(f)  # dialogs and new windows
            win.setFont(f)  # this window's widgets, at once
            self.set_simple(True)
            win.set_theme("dark")
            win.showFullScreen()
        else:
            if self._saved_font is not None:
                app.setFont(self._saved_font)
                win.setFont(self._saved_font)
            if not self._was_simple:
                self.set_simple(False)
            win.set_theme(self._saved_theme)
            win.showNormal()
        self.presenting = on
        win.menu_actions.present.setChecked(on)
        for w in (win.chat.main_view, win.chat.default_view):  # transcripts keep their own document font
            w.document().setDefaultFont(app.font())
        win.chat.rerender()
