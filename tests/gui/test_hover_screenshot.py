"""``desktop-sae screenshot --hover``: the mouse moved onto an answer token opens that token's tooltip, which names
its strongest features by their explanations, and the grab holds the window with the tooltip on top."""

from PySide6.QtGui import QColor

from conftest import ask, make_tiny_loader, set_sampling
from desktop_sae.cli.screenshot_hover import grab_with_tooltip, hover, token_point, tooltip_widget
from explained import explained_copy


def test_hovering_a_token_opens_its_tooltip_and_the_grab_shows_it(make_window, tiny_sae_dir, tmp_path, qtbot):
    win = make_window(make_tiny_loader(explained_copy(tiny_sae_dir, tmp_path / "sae")))
    win.resize(1200, 800)
    set_sampling(win, max_new_tokens=8, temperature=0.0)
    ask(qtbot, win, "hello world")
    conv, view = win.controller.conversation, win.chat.main_view
    events = [e for e in conv.turns[-1].events.get("main", ()) if e.delta]
    ev = events[2]
    href = f"tok:{ev.run}:{ev.index}"
    assert token_point(view, "tok:main:999") is None and not hover(view, "tok:main:999")
    plain = win.grab().toImage()
    assert hover(view, href)
    qtbot.waitUntil(lambda: tooltip_widget() is not None, timeout=5_000)
    tip = tooltip_widget()
    top = [int(i) for i, v in zip(ev.top_ids, ev.top_vals) if v > 0][:3]
    assert top and all(win.controller.model.label(f) in tip.text() for f in top)  # features named as everywhere
    shot = grab_with_tooltip(win).toImage()
    assert shot.size() == plain.size()
    at = tip.pos() - win.mapToGlobal(tip.pos() * 0) + tip.rect().center()  # the tooltip's middle, in the window
    inside = [shot.pixelColor(at.x() + dx, at.y()) for dx in range(-20, 21, 5)]
    assert any(c != QColor(plain.pixelColor(at.x() + dx, at.y())) for c, dx in zip(inside, range(-20, 21, 5)))
