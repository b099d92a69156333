"""Save a screenshot of the toy lab after training the sparse pentagon (n = 5, S = 0.95, seed 0), offscreen.

    QT_QPA_PLATFORM=offscreen python packaging/toy_lab_screenshot.py [out.png] [--tab superposition|rainbow|sae]
    [--theme light|dark]

The lab needs no language model: it runs on a plain job thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from PySide6.QtWidgets import QApplication

DEFAULT_OUT = Path(__file__).resolve().parent / "screenshots" / "toy-lab.png"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(DEFAULT_OUT))
    ap.add_argument("--tab", default="superposition", choices=("superposition", "rainbow", "sae"))
    ap.add_argument("--theme", default="light", choices=("light", "dark"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    app = QApplication([])
    from desktop_sae.app.controller import Controller
    from desktop_sae.app.jobs import JobRunner
    from desktop_sae.cli.screenshot import settle
    from desktop_sae.gui.inference_thread import OutboxPump
    from desktop_sae.gui.theme import apply_theme
    from desktop_sae.gui.toy_lab import ToyLab

    apply_theme(args.theme, app)
    runner = JobRunner()
    runner.start_thread()
    controller = Controller(runner)
    pump = OutboxPump(controller)  # noqa: F841 - delivers the job's messages while it lives
    lab = ToyLab(controller.jobs)
    lab.slow_motion.setChecked(False)
    lab.resize(1200, 760)
    lab.show()
    start = {
        "superposition": lambda: lab.train_superposition(n=5, sparsity=0.95, decay=0.9, seed=0),
        "rainbow": lab.run_rainbow,
        "sae": lab.train_toy_sae,
    }[args.tab]
    start()
    end = time.monotonic() + 120
    while lab.busy and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)
    settle(app, 0.3)  # the last redraw and the layout
    ok = lab.grab().save(args.out)
    runner.shutdown()
    print(f"{args.out}: {'saved' if ok else 'NOT saved'}; {lab.summary or lab.current_tab()}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
