"""``desktop-sae screenshot --directory FILTER``: the model and SAE manager's SAE directory tab, filtered."""

from __future__ import annotations

import sys

from .screenshot import settle, wait_for


def directory_shot(app, win, text: str, out: str, size: tuple[int, int]) -> int:
    """Open File → Models and SAEs on its SAE directory tab, filter by ``text``, grab the dialog."""
    win.menu_actions.assets.trigger()
    dlg = win.files.asset_manager
    dlg.tabs.setCurrentWidget(dlg.directory)
    dlg.resize(*size)
    view = dlg.directory
    view.filter.setText(text)
    view.apply_filter()
    wait_for(app, lambda: view.visible_counts()[0] > 0 or not text, 10, "the directory to filter")
    settle(app)
    ok = dlg.grab().save(out)
    print(f"{'wrote' if ok else 'could not write'} {out}: {view.count.text()}", file=sys.stdout if ok else sys.stderr)
    dlg.close()
    win.close()
    return 0 if ok else 1
