"""Benchmark: the SAE directory of an installed sae-lens (170 releases, ~14 000 SAEs) as the manager shows it — the
load (cold: YAML parse + cache write; warm: from the cache), filling the manager's directory tree, typing a filter
and opening the largest release. Medians of --repeats runs, offscreen.

  python tests/bench/bench_sae_directory.py \
      --yaml /tmp/saelens-venv/lib/python3.11/site-packages/sae_lens/pretrained_saes.yaml --shot /tmp/manager.png

writes docs/results/bench/sae_directory.json (``--json`` elsewhere). ``--smoke`` makes a synthetic file of 20
releases x 50 SAEs instead. ``--shot PNG`` saves the whole Models and SAEs dialog, filtered, in a window on the
tiny random model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _bench

DEFAULT = _bench.RESULTS / "sae_directory.json"
QUERIES = ("gemma-3-270m-it res 16k", "hook_mlp_in", "llama")


def _synthetic(path: Path) -> Path:
    lines = []
    for r in range(20):
        lines += [f"synthetic-release-{r}:", "  conversion_func: gemma_3", f"  model: org/model-{r % 4}",
                  f"  repo_id: org/saes-{r}", "  saes:"]
        for s in range(50):
            lines += [f"  - id: layer_{s}_width_16k_l0_medium", f"    path: resid_post/layer_{s}_width_16k_l0_medium",
                      "    l0: 60", f"    neuronpedia: model-{r % 4}/{s}-res-16k"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _median_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--yaml", default=None, help="sae_lens's pretrained_saes.yaml (default: the installed one)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shot", default=None, help="save the Models and SAEs dialog as this PNG")
    _bench.add_args(ap, DEFAULT)
    args = ap.parse_args(argv)
    load_before = _bench.start()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="desktop-sae-directory-bench-"))
    for name in ("CACHE", "DATA", "CONFIG"):
        os.environ[f"DESKTOP_SAE_{name}_DIR"] = str(tmp / name.lower())
    if args.smoke:
        args.yaml, args.repeats = str(_synthetic(tmp / "pretrained_saes.yaml")), 2
    from desktop_sae.core.assets import directory_files
    from desktop_sae.core.assets.sae_directory import load_sae_directory

    if args.yaml:
        os.environ[directory_files.SAELENS_ENV] = args.yaml
    installed = directory_files.find_installed_saelens()
    if installed is None:
        print("no installed sae-lens: give --yaml", file=sys.stderr)
        return 1

    def cold():
        for f in (tmp / "cache" / "sae_directory").glob("*.json"):
            f.unlink()
        load_sae_directory()

    cold_s = _median_of(cold, args.repeats)
    warm_s = _median_of(load_sae_directory, args.repeats)
    directory = load_sae_directory()

    from PySide6.QtWidgets import QApplication

    from desktop_sae.gui.sae_directory_view import DirectoryView

    app = QApplication.instance() or QApplication([])
    views: list[DirectoryView] = []
    fill_s = _median_of(lambda: views.append(DirectoryView(directory)), args.repeats)
    view = views[-1]
    filter_s: dict[str, float] = {}
    for q in QUERIES:
        def typed(q=q):
            view.filter.setText(q)
            view.apply_filter()

        filter_s[q] = _median_of(typed, args.repeats)
    view.filter.setText("")
    view.apply_filter()
    biggest = max(directory.releases.values(), key=lambda r: len(r.saes))
    expand = []
    for _ in range(args.repeats):
        view.apply_filter()
        item = next(view.tree.topLevelItem(i).child(j) for i in range(view.tree.topLevelItemCount())
                    for j in range(view.tree.topLevelItem(i).childCount())
                    if view.tree.topLevelItem(i).child(j).text(0) == biggest.name)
        t = time.perf_counter()
        item.setExpanded(True)
        expand.append(time.perf_counter() - t)
    app.processEvents()
    for v in views:
        v.deleteLater()
    app.processEvents()
    if args.shot:
        _shot(app, Path(args.shot))
    summary = {
        "sae_lens_version": installed.version, "releases": len(directory.releases), "saes": directory.n_saes,
        "cold_load_s_median": _bench.rnd(cold_s, 4), "cached_load_s_median": _bench.rnd(warm_s, 4),
        "fill_s_median": _bench.rnd(fill_s, 4), "filter_s_median": _bench.rnd(statistics.median(filter_s.values()), 4),
        "filter_s_max": _bench.rnd(max(filter_s.values()), 4),
        "open_largest_release_s_median": _bench.rnd(statistics.median(expand), 4),
        "largest_release_saes": len(biggest.saes),
    }
    _bench.write(args, DEFAULT, summary, {
        "what": "medians of `repeats` runs, offscreen: cold load = load_sae_directory() with an empty cache, cached "
                "load = with the cache in place, fill = building the manager's directory tree (models and releases; "
                "SAEs are made when a release is opened), filter = typing a query and rebuilding the tree (per "
                "query in filter_s), open = expanding the release with the most SAEs",
        "yaml": str(installed.yaml_path), "repeats": args.repeats, "filter_s": filter_s}, load_before)
    print(summary)
    return 0


def _shot(app, out: Path) -> None:
    """The whole dialog in a window on the tiny random model, on its directory tab, filtered."""
    sys.path.insert(0, str(_bench.ROOT / "tests"))
    import tiny
    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.cli.screenshot import settle
    from desktop_sae.gui.app import build_window

    sae = tiny.save_tiny_sae(Path(tempfile.mkdtemp(prefix="tiny-sae-")) / "tiny-sae")
    win = build_window(LoadRequest(), loader=tiny.make_loader(sae, 0.0), welcome=False)
    end = time.monotonic() + 120
    while not win.controller.model.ready and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
    win.menu_actions.assets.trigger()
    dlg = win.files.asset_manager
    dlg.tabs.setCurrentWidget(dlg.directory)
    dlg.directory.filter.setText("gemma-3-270m-it res 16k")
    dlg.directory.apply_filter()
    settle(app, 0.5)
    out.parent.mkdir(parents=True, exist_ok=True)
    dlg.grab().save(str(out))
    print(f"screenshot: {out}")
    dlg.close()
    win.close()
    settle(app, 0.3)


if __name__ == "__main__":
    sys.exit(main())
