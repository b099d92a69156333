"""Save packaging/screenshots/neuron-view.png: the neuron view on the first curated neuron, with the bundled model
and SAE loaded by a real (offscreen) main window, as the app would show it.

Usage: python packaging/neurons/screenshot_neuron_view.py [OUT.png] [--index 0] [--size 1500x900]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # this checkout's desktop_sae


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(ROOT / "packaging" / "screenshots" / "neuron-view.png"))
    ap.add_argument("--index", type=int, default=0, help="which curated neuron")
    ap.add_argument("--size", default="1500x900")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["DESKTOP_SAE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="desktop-sae-shot-")
    from desktop_sae.cli.screenshot import wait_for
    from desktop_sae.gui.app import build_window, make_app
    from desktop_sae.gui.neuron_view import NeuronView
    from desktop_sae.gui.theme import apply_theme

    app = make_app()
    apply_theme("light", app)
    win = build_window(welcome=False, show=False)
    model, notices = win.controller.model, win.controller.notices
    wait_for(app, lambda: model.ready or notices.last_error, 600, "the model to load")
    if not model.ready:
        print(f"error: {notices.last_error}", file=sys.stderr)
        win.close()
        return 2
    view = NeuronView(win.controller, data_folder=ROOT / "resources" / "neurons")
    w, h = (int(x) for x in args.size.lower().split("x"))
    view.resize(w, h)
    view.show_curated(args.index)
    view.show()
    wait_for(app, lambda: view.isVisible(), 10, "the view")
    for _ in range(20):
        app.processEvents()
    ok = view.grab().save(args.out)
    print(f"{'wrote' if ok else 'could not write'} {args.out}")
    view.close()
    win.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
