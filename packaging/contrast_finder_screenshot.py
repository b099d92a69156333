"""Save a screenshot of the contrastive finder with real results: the bundled model and SAE, the built-in
"Bridges vs other structures" example, offscreen.

    QT_QPA_PLATFORM=offscreen python packaging/contrast_finder_screenshot.py [out.png] [--example NAME]
    [--theme light|dark] [--selection out2.png]

With ``--selection`` it also asks the model about the Golden Gate Bridge, selects a few answer tokens and saves the
"Features on this selection" window.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["DESKTOP_SAE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="desktop-sae-shot-")  # the default layout
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_OUT = Path(__file__).resolve().parent / "screenshots" / "contrast-finder.png"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(DEFAULT_OUT))
    ap.add_argument("--example", default="Bridges vs other structures")
    ap.add_argument("--theme", default="light", choices=("light", "dark"))
    ap.add_argument("--selection", default=None, help="also save the selection-features window here")
    args = ap.parse_args()
    from dataclasses import replace

    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.cli.screenshot import settle, wait_for
    from desktop_sae.core.engine.run_names import Run
    from desktop_sae.gui.app import build_window, make_app

    app = make_app()
    win = build_window(LoadRequest(), welcome=False)
    win.set_theme(args.theme)
    ctl = win.controller
    conv, model, notices = ctl.conversation, ctl.model, ctl.notices
    wait_for(app, lambda: model.ready or notices.last_error, 600, "the model to load")
    if not model.ready:
        print(f"error: {notices.last_error}", file=sys.stderr)
        win.close()
        return 2
    finder = win.finders.open_contrast_finder()
    finder.resize(1080, 820)
    finder.example.setCurrentIndex(finder.example.findData(args.example))
    finder.use_example(args.example)
    finder.search()
    wait_for(app, lambda: not finder.run.running, 600, "the search")
    if finder.contrast is None:
        print(f"error: {finder.status.text()}", file=sys.stderr)
        return 2
    finder.table.selectRow(0)
    settle(app)
    ok = finder.grab().save(args.out)
    print(f"{'saved' if ok else 'could not save'} {args.out}:",
          [(h.feature, round(h.score, 3), h.label[:30]) for h in finder.contrast.hits[:5]])
    if args.selection:
        finder.close()
        conv.set_sampling(replace(conv.sampling, seed=42, max_new_tokens=40))
        conv.send("Tell me about the Golden Gate Bridge.")
        wait_for(app, lambda: not conv.busy, 600, "the answer")
        evs = [e for e in conv.turns[-1].events[Run.MAIN] if e.delta]
        popup = win.finders.show_selection_features([(Run.MAIN, e.index) for e in evs[:8]])
        wait_for(app, lambda: not popup.run.running, 120, "the selection's features")
        popup.resize(760, 460)
        settle(app)
        popup.grab().save(args.selection)
        print("saved", args.selection, repr("".join(e.text for e in evs[:8])))
    win.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
