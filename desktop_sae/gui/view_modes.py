"""Layouts of the main window: advanced (every panel), simple (chat, the demo's sliders and one live plot) and
presentation (F11: full screen, everything ≥ 1.6× larger and high contrast for a projector, advanced panels
hidden). Each mode only shows, hides and scales widgets; leaving it restores the user's own layout. While the
welcome page shows, every panel and toolbar is hidden so that the page fills the window; the layout they had (with
any mode changed meanwhile) comes back when the user picks a lesson, a demo or the chat."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QToolBar

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
        self._welcome_layout: QByteArray | None = None  # the panels' layout while the welcome page hides them

    # --- the welcome page ------------------------------------------------------------------------------------------
    @property
    def welcoming(self) -> bool:
        return self._welcome_layout is not None

    def hide_panels(self) -> None:
        """The welcome page fills the window: hide every panel and toolbar, keeping their layout."""
        if self._welcome_layout is None:
            self._welcome_layout = self.win.saveState()
        self._hide_all()

    def show_panels(self) -> None:
        """Back from the welcome page: the panels and toolbars as they were (or as a mode set them meanwhile)."""
        if self._welcome_layout is not None:
            self.win.restoreState(self._welcome_layout)
            self._welcome_layout = None

    def user_layout(self) -> QByteArray:
        """The layout to remember: the panels' own, not the welcome page's empty one."""
        return self._welcome_layout if self._welcome_layout is not None else self.win.saveState()

    def _hide_all(self) -> None:
        for dock in self.win.docks.values():
            dock.hide()
        for bar in self.win.findChildren(QToolBar):
            bar.hide()

    def _change_layout(self, change: Callable[[], object]) -> None:
        """Apply a layout change to the panels, or, while the welcome page hides them, to their kept layout."""
        if self._welcome_layout is None:
            change()
            return
        self.win.restoreState(self._welcome_layout)
        change()
        self._welcome_layout = self.win.saveState()
        self._hide_all()

    # --- modes -----------------------------------------------------------------------------------------------------

    def set_simple(self, simple: bool) -> None:
        win = self.win
        if simple == (self.mode == Layout.SIMPLE):
            return
        if simple:
            self._saved_layout = self.user_layout()

            def only_simple() -> None:
                for key, dock in win.docks.items():
                    dock.setVisible(key in SIMPLE_DOCKS)

            self._change_layout(only_simple)
            self.mode = Layout.SIMPLE
        else:
            saved = self._saved_layout
            if saved is not None:
                self._change_layout(lambda: win.restoreState(saved))
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
