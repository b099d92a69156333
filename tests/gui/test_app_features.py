"""The feature panel, the dashboard, labels, settings and the screenshot command (pytest-qt, offscreen)."""

import json

import pytest
from PySide6.QtCore import Qt

from conftest import ask, make_tiny_loader, set_sampling

pytestmark = pytest.mark.gui


def test_feature_search_labels_and_detail(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl, fp = win.controller, win.features
    assert fp.model.rowCount() == 256
    qtbot.keyClick(win, Qt.Key_F, Qt.ControlModifier)
    fp.search.setText("#42")
    assert list(fp.model.rows) == [42]
    fp.search.setText("")
    ctl.features.set_label(42, "Golden Gate bridge")
    saved = json.loads((tiny_sae_dir / "labels.user.json").read_text())
    assert saved == {"42": "Golden Gate bridge"}
    fp.search.setText("golden bridge")
    assert list(fp.model.rows) == [42]
    fp.select(42)  # a click in the list
    assert ctl.features.selected == 42
    assert "Golden Gate bridge" in win.detail.title.text()
    qtbot.waitUntil(lambda: "promotes" in win.detail.logits.text(), timeout=5000)  # computed by the worker
    ctl.features.set_label(42, "")  # clearing restores the automatic label
    assert json.loads((tiny_sae_dir / "labels.user.json").read_text()) == {}


def test_feature_dashboard_with_a_dictionary(make_window, tiny_sae_with_dictionary, qtbot):
    from desktop_sae.core.features.dictionary import FeatureDictionary

    d = FeatureDictionary.load(tiny_sae_with_dictionary)
    f = max(range(len(d)), key=lambda i: d.entry(i)["max_activation"])
    e = d.entry(f)
    win = make_window(make_tiny_loader(tiny_sae_with_dictionary))
    ctl = win.controller
    assert ctl.model.catalog.dictionary is not None and ctl.features.label(f) == e["label"]
    win.features.search.setText(e["label"].split()[0])
    assert f in list(win.features.model.rows)
    win.features.search.setText("")
    ctl.features.select(f)
    assert e["label"] in win.detail.title.text()
    assert "promotes" in win.detail.logits.text() and e["top_logits"][0][0].strip() in win.detail.logits.text()
    html = win.detail.contexts.toHtml()
    assert html.count("background-color") >= 2  # highlighted tokens in the top contexts
    assert win.detail.hist.isVisibleTo(win.detail)
    h = win.detail.hist_bars.opts["height"]
    assert int(sum(h)) == sum(e["histogram"]["counts"])
    # a label edited in the table is saved where the dictionary module reads it, in its format
    m = win.features.model
    row = int(list(m.rows).index(f))
    assert m.setData(m.index(row, 2), "my own label")
    assert FeatureDictionary.load(tiny_sae_with_dictionary).labels[f] == "my own label"
    assert "my own label" in win.detail.title.text()


def test_settings_and_layout_persist(make_window, tiny_sae_dir, qtbot):
    from desktop_sae.core.support import paths

    win = make_window(make_tiny_loader(tiny_sae_dir))
    win.chat.system.setText("Be brief.")
    win.chat.sampling.temperature.setValue(0.9)
    win.chat.sampling.max_tokens.setValue(77)
    conv = win.controller.conversation
    assert conv.sampling.max_new_tokens == 77 and conv.system == "Be brief."
    win.docks["token"].hide()
    win.close()
    assert (paths.config_dir() / "desktop-sae.ini").exists()
    again = make_window(make_tiny_loader(tiny_sae_dir))
    assert again.controller.conversation.system == "Be brief." and again.chat.system.text() == "Be brief."
    assert again.controller.conversation.sampling.temperature == pytest.approx(0.9)
    assert again.chat.sampling.max_tokens.value() == 77
    assert not again.docks["token"].isVisible()


def test_screenshot_command_is_registered_without_importing_qt():
    import subprocess
    import sys

    code = (
        "import sys, desktop_sae.cli as c; p = c.build_parser(); "
        "a = p.parse_args(['screenshot', 'x.png', '--steer', '3=4x', '--compare']); "
        "assert a.func.__name__ == 'cmd_screenshot' and a.compare; "
        "assert not [m for m in sys.modules if m.startswith('PySide6')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_first_start_shows_the_welcome_page_and_a_demo_opens_the_chat(qtbot, tiny_sae_dir, tmp_path):
    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.gui.app import build_window

    win = build_window(LoadRequest(), loader=make_tiny_loader(tiny_sae_dir))
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.controller.model.ready, timeout=20_000)
    assert win.pages.currentWidget() is win.welcome and win.welcome.demos.count() >= 3
    win.welcome.demos.setCurrentRow(0)
    win.welcome.demo_btn.click()
    assert win.pages.currentWidget() is win.chat and win.views.mode == "simple"
    assert not win.docks["features"].isVisible() and win.docks["steering"].isVisible()
    assert win.chat.input.toPlainText()
    win.views.set_simple(False)
    assert win.docks["features"].isVisible()
    win.close()
    again = build_window(None, show=False)  # the welcome page is shown on the first start only
    qtbot.addWidget(again)
    assert again.pages.currentWidget() is again.chat
    again.close()


def test_presentation_mode_scales_fonts_and_restores_them(make_window, tiny_sae_dir, qtbot):
    from PySide6.QtWidgets import QApplication

    win = make_window(make_tiny_loader(tiny_sae_dir))
    app = QApplication.instance()
    before = app.font().pointSizeF()
    qtbot.keyClick(win, Qt.Key_F11)
    assert win.views.presenting and app.font().pointSizeF() >= 1.6 * before - 0.01
    assert win.chat.input.font().pointSizeF() >= 1.6 * before - 0.01
    assert not win.docks["features"].isVisible() and win.isFullScreen()
    qtbot.keyClick(win, Qt.Key_F11)
    assert not win.views.presenting and app.font().pointSizeF() == pytest.approx(before)
    assert win.docks["features"].isVisible()


def test_session_report_holds_the_transcript_plots_and_dashboards(
    make_window, tiny_sae_with_dictionary, qtbot, tmp_path
):
    import csv

    from PySide6.QtGui import QGuiApplication


    win = make_window(make_tiny_loader(tiny_sae_with_dictionary))
    ctl = win.controller
    set_sampling(win, max_new_tokens=8)
    ctl.steering.steer(4, 15.0)
    ctl.conversation.set_compare(True)
    ask(qtbot, win, "the bridge")
    f = int(ctl.model.catalog.active_ids("max")[0])
    ctl.features.select(f)
    win.strip.copy_btn.click()
    assert not QGuiApplication.clipboard().image().isNull()  # "Copy image" on a plot
    html_path, csv_path = win.files.export_report(tmp_path / "session")
    text = html_path.read_text()
    turn = ctl.conversation.turns[-1]
    import html

    assert "the bridge" in text and html.escape(turn.content) in text and html.escape(turn.default) in text
    assert "default, same seed" in text and text.count("data:image/png;base64,") >= 2
    assert f"#{f} " in text and "&quot;strength&quot;: 15.0" in text
    rows = list(csv.reader(csv_path.open()))
    assert rows[0][:4] == ["turn", "run", "position", "token"]
    assert {r[1] for r in rows[1:]} == {"steered", "default"}
    assert len(rows) - 1 == sum(len(v) for v in turn.events.values())
