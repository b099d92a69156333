"""Benchmark: train an SAE in the app as a user does — the real window offscreen with the bundled model (loaded as
the app loads it), File → Train an SAE…, the built-in recipe, Start — and report the time per stage and the
evaluation. PNGs of the dialog mid-training and at the end go to --shots.

  python tests/bench/bench_train_dialog.py --tokens 200000 --width 1024 --shots shots

writes docs/results/bench/train_dialog.json (``--json`` elsewhere; ``--smoke``: the smallest run the app allows).

The SAE lands in a temporary data folder (or --data-dir). Torch threads follow the app's rule (all cores but one
for the worker, unless OMP_NUM_THREADS says otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import _bench

DEFAULT = _bench.RESULTS / "train_dialog.json"

def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=200_000)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--layer", type=int, default=12)
    ap.add_argument("--shots", default=None, help="folder for the dialog's PNGs")
    ap.add_argument("--data-dir", default=None)
    _bench.add_args(ap, DEFAULT)
    args = ap.parse_args(argv)
    load_before = _bench.start()
    if args.smoke:
        from desktop_sae.core.training.run_specs import MIN_TOKENS

        args.tokens, args.width, args.k, args.passes = MIN_TOKENS, 64, 8, 1
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["DESKTOP_SAE_DATA_DIR"] = args.data_dir or tempfile.mkdtemp(prefix="desktop-sae-train-bench-")
    os.environ["DESKTOP_SAE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="desktop-sae-train-bench-config-")

    from desktop_sae.cli.screenshot import settle
    from desktop_sae.gui.app import build_window, make_app

    app = make_app([])
    win = build_window(welcome=False)
    ctl = win.controller

    def wait(cond, timeout):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError
            app.processEvents()
            time.sleep(0.01)

    wait(lambda: ctl.model.ready or ctl.notices.last_error, 300)
    if not ctl.model.ready:
        print(ctl.notices.last_error, file=sys.stderr)
        return 1
    import torch

    win.menu_actions.train.trigger()
    dlg = win.train_dialog
    dlg.form.set_values(layer=args.layer, width=args.width, k=args.k, tokens=args.tokens, passes=args.passes)
    t0 = time.monotonic()
    dlg.start()
    shot_taken = False
    while dlg.run.running:
        app.processEvents()
        time.sleep(0.01)
        if args.shots and not shot_taken and dlg.run.stage == "train" and len(dlg.run.points) >= 60:
            settle(app, 0.4)
            Path(args.shots).mkdir(parents=True, exist_ok=True)
            dlg.grab().save(str(Path(args.shots) / "train-dialog-smollm2-training.png"))
            shot_taken = True
    wall = time.monotonic() - t0
    if dlg.run.status != "done":
        print(dlg.run.status, dlg.run.error, file=sys.stderr)
        return 1
    out = dlg.run.outcome
    if args.shots:
        settle(app, 0.5)
        dlg.grab().save(str(Path(args.shots) / "train-dialog-smollm2-done.png"))
    report = {"tokens": args.tokens, "width": args.width, "k": args.k, "passes": args.passes,
              "hook": out.hook, "wall_s": round(wall, 1), "stage_seconds": dict(out.stage_seconds),
              "evaluation": dict(out.evaluation or {}), "torch_threads": torch.get_num_threads(),
              "points": len(dlg.run.points), "path": str(out.path)}
    print(json.dumps(report, indent=1))
    ev = report["evaluation"]
    summary = {"wall_s": report["wall_s"], "stage_s": {k: round(v, 1) for k, v in report["stage_seconds"].items()},
               **{k: round(ev[k], 4) for k in ("explained_variance", "delta_loss") if isinstance(ev.get(k), float)}}
    _bench.write(args, DEFAULT, summary, report, load_before)
    win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
