"""The first start: the welcome page fills the window (every panel and toolbar hidden), its lesson and demo titles
fit in full at 1280×800 and in presentation mode, and the panels come back when the user picks the chat or a
lesson; the layout remembered on closing is the panels' own, not the welcome page's."""

from PySide6.QtWidgets import QApplication, QToolBar

from desktop_sae.app.loading import LoadRequest
from desktop_sae.gui.app import build_window
from tiny import make_loader

SHOWN_BY_DEFAULT = ("features", "detail", "steering", "strip", "token")


def _first_start(qtbot, sae_dir):
    win = build_window(LoadRequest(), loader=make_loader(sae_dir), show=False)  # a fresh settings folder
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.controller.model.ready, timeout=30_000)
    return win


def _fills_the_window(win) -> None:
    QApplication.processEvents()
    assert win.pages.currentWidget() is win.welcome
    assert not any(d.isVisible() for d in win.docks.values())
    assert not any(t.isVisible() for t in win.findChildren(QToolBar))
    page = win.pages.geometry()
    assert page.width() == win.width() and page.top() <= win.menuBar().height() + 1
    assert page.bottom() >= win.statusBar().geometry().top() - 2
    assert win.welcome.size() == win.pages.size()


def _titles_fit(win) -> None:
    w = win.welcome
    for lst in (w.lessons, w.demos):
        assert lst.count() > 0
        room = lst.viewport().width()
        for i in range(lst.count()):
            item = lst.item(i)
            assert lst.fontMetrics().horizontalAdvance(item.text()) <= room, item.text()
            assert lst.visualItemRect(item).height() < 2.2 * lst.fontMetrics().height()  # one line: not wrapped
    for head in w.headings:
        assert head.sizeHint().width() <= head.width(), head.text()


def test_the_welcome_page_fills_the_window_until_the_user_picks_the_chat(qtbot, tiny_sae_dir):
    win = _first_start(qtbot, tiny_sae_dir)
    _fills_the_window(win)
    _titles_fit(win)
    win.views.set_presentation(True)
    win.showNormal()  # offscreen there is no screen to fill: presentation's fonts at 1280×800
    win.resize(1280, 800)
    _fills_the_window(win)
    _titles_fit(win)
    win.views.set_presentation(False)
    win.resize(1280, 800)
    _fills_the_window(win)
    win.welcome.chat_btn.click()
    QApplication.processEvents()
    assert win.pages.currentWidget() is win.chat
    assert all(win.docks[k].isVisible() for k in SHOWN_BY_DEFAULT)
    assert not win.docks["quiz"].isVisible() and all(t.isVisible() for t in win.findChildren(QToolBar))
    win.show_welcome()  # Help → Welcome page hides them again, and the chat brings them back
    _fills_the_window(win)
    win.show_chat()
    assert all(win.docks[k].isVisible() for k in SHOWN_BY_DEFAULT)
    win.close()


def test_a_lesson_shows_the_panels_and_closing_on_the_welcome_page_keeps_them(qtbot, tiny_sae_dir):
    win = _first_start(qtbot, tiny_sae_dir)
    assert win.lessons.start(win.welcome.lessons.item(0).data(256))  # Qt.UserRole: the lesson id
    QApplication.processEvents()
    assert win.pages.currentWidget() is win.chat and any(d.isVisible() for d in win.docks.values())  # the step's
    win.lessons.end()
    assert all(win.docks[k].isVisible() for k in SHOWN_BY_DEFAULT)  # the layout from before the lesson
    win.show_welcome()
    win.close()  # on the welcome page: the layout saved is the panels' one
    again = build_window(None, show=False)
    qtbot.addWidget(again)
    assert again.pages.currentWidget() is again.chat  # the welcome page shows on the first start only
    again.show()
    qtbot.waitExposed(again)
    assert again.docks["features"].isVisible() and again.docks["steering"].isVisible()
    again.close()
