"""``desktop-sae screenshot --hover``: move the mouse onto one answer token, as a user would, so that the window shows
that token's tooltip (its strongest features by name), and grab the window with the tooltip on top.

Under a real X server (Xvfb included) the grab is the screen's pixels over the window. The offscreen platform has
no screen to read, so there the window and the tooltip are each drawn and put together where they stand."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtGui import QPainter, QPixmap, QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QTextBrowser, QWidget


def token_point(view: QTextBrowser, href: str) -> QPoint | None:
    """The middle of the first text run anchored to ``href``, in the view's viewport; None if there is none."""
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            if frag.isValid() and frag.charFormat().anchorHref() == href:
                cur = QTextCursor(view.document())
                cur.setPosition(frag.position() + max(0, frag.length() // 2))
                view.setTextCursor(cur)
                view.ensureCursorVisible()
                return view.cursorRect(cur).center()
            it += 1
        block = block.next()
    return None


def hover(view: QTextBrowser, href: str) -> bool:
    """Move the mouse onto the token anchored to ``href`` (its tooltip opens as on a real hover)."""
    p = token_point(view, href)
    if p is None:
        return False
    QTest.mouseMove(view.viewport(), p + QPoint(1, 0))
    QTest.mouseMove(view.viewport(), p)
    return True


def tooltip_widget() -> QWidget | None:
    return next((w for w in QApplication.topLevelWidgets() if w.inherits("QTipLabel") and w.isVisible()), None)


def grab_with_tooltip(win: QWidget) -> QPixmap:
    """The window's pixels with the open tooltip on top."""
    geo = win.frameGeometry()
    screen = win.screen()
    shot = screen.grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height()) if screen is not None else QPixmap()
    if not shot.isNull() and QApplication.platformName() != "offscreen":
        return shot
    shot = win.grab()
    tip = tooltip_widget()
    if tip is not None:
        painter = QPainter(shot)
        painter.drawPixmap(tip.pos() - win.mapToGlobal(QPoint(0, 0)), tip.grab())
        painter.end()
    return shot
