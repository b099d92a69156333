"""GUI benchmark (not a timed test; run it by hand):

    QT_QPA_PLATFORM=offscreen python tests/bench/bench_gui.py [--sae DIR] [--tokens 200] [--launches 5]
    QT_QPA_PLATFORM=offscreen python tests/bench/bench_gui.py --skip stall,search --launches 5 \\
        --also-transformers --json docs/results/bench/gui_startup.json   # the README's start-up figures

writes docs/results/bench/gui.json (``--json`` elsewhere; ``--smoke``: a few seconds, nothing written by default):

1. main-thread stall: gaps between event-loop ticks (a 0 ms timer) while the real bundled model streams N tokens
   with 5 pinned features plotted (goal p99 <= 16 ms, max <= 50 ms);
2. launch -> first paint and -> ready to chat, in a fresh process with a warm model cache (goal <= 1 s / <= 3 s);
3. feature search over all features (catalog search and the full panel refresh; goal <= 10 ms).

``--gc-compare N`` runs only the stall test, N rounds alternating the app's GUI-thread-only garbage collection
(gui/gc_guard.py) with Python's automatic collection (the baseline), and counts collections per thread during the
model load and while streaming.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import _bench

T_LAUNCH = time.time()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
DEFAULT = _bench.RESULTS / "gui.json"


def _pct(xs, q):
    import numpy as np

    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def launch_child(sae: str | None) -> None:
    """Runs in a fresh process: report seconds from process launch to first paint and to ready."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.gui.app import build_window, make_app

    t0 = float(os.environ["BENCH_T0"])
    out = {}
    app = make_app()

    class PaintSpy(QObject):
        def eventFilter(self, obj, ev):  # noqa: N802
            if ev.type() == QEvent.Paint and "paint" not in out:
                out["paint"] = time.time() - t0
            return False

    spy = PaintSpy()
    win = build_window(LoadRequest(sae=sae), show=False)
    win.installEventFilter(spy)
    win.chat.installEventFilter(spy)

    def ready(ok):
        if ok:
            out["ready"] = time.time() - t0
            QTimer.singleShot(0, win.close)

    win.readyChanged.connect(ready)
    win.show()
    QTimer.singleShot(120_000, win.close)
    app.exec()
    print("LAUNCH " + json.dumps(out))


def _launch_once(sae, engine: str | None) -> dict:
    env = {**os.environ, "BENCH_T0": repr(time.time())}
    if engine:
        env["DESKTOP_SAE_ENGINE"] = engine
    r = subprocess.run([sys.executable, __file__, "--child"] + (["--sae", sae] if sae else []), env=env,
                       capture_output=True, text=True, timeout=300)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("LAUNCH ")), None)
    if line is None:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(line[7:])


def bench_launch(sae, repeats=5, engines: tuple[str | None, ...] = (None,)) -> dict:
    """Launch -> first paint and -> ready, ``repeats`` fresh processes per engine, the engines alternating (None:
    the app's default; "transformers": DESKTOP_SAE_ENGINE=transformers, the path before the lite engine)."""
    rows: dict[str | None, list[dict]] = {e: [] for e in engines}
    for _ in range(repeats):
        for e in engines:
            rows[e].append(_launch_once(sae, e))
    out = {f"{e or 'default'}": {"first_paint_s": [round(r["paint"], 3) for r in rs],
                                 "ready_s": [round(r["ready"], 3) for r in rs]} for e, rs in rows.items()}
    return {**out.pop("default"), **({"other_engines": out} if out else {})}


def _gc_pauses():
    """Record (thread is GUI thread, ms) for every cyclic-GC collection until the returned stop() is called."""
    import gc
    import threading

    main, start, out = threading.main_thread().ident, {}, []

    def cb(phase, info):
        tid = threading.get_ident()
        if phase == "start":
            start[tid] = time.perf_counter()
        elif tid in start:
            out.append((tid == main, info["generation"], 1000 * (time.perf_counter() - start.pop(tid))))

    gc.callbacks.append(cb)
    return out, lambda: gc.callbacks.remove(cb)


def bench_stall(sae, tokens: int, sort: str = "active_max", gc_mode: str = "gui", idle_s: float = 5.0) -> dict:
    """gc_mode "gui": the window's GUI-thread-only collection (the app's behaviour); "auto": Python's automatic
    collection in whichever thread allocates (the behaviour before gc_guard; the baseline)."""
    from dataclasses import replace

    from PySide6.QtCore import QEventLoop, Qt, QTimer

    import desktop_sae.gui.inference_thread as it
    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.gui.app import build_window, make_app

    class NoGuard:  # the baseline: automatic collection stays on
        def __init__(self, busy=None):
            pass

        acquire = release = lambda self: None

    app = make_app()
    real_guard = it.GuiThreadGC
    it.GuiThreadGC = NoGuard if gc_mode == "auto" else real_guard
    load_pauses, stop_load_pauses = _gc_pauses()
    try:
        win = build_window(LoadRequest(sae=sae), welcome=False)  # the panels shown (a welcome page hides them)
    finally:
        it.GuiThreadGC = real_guard
    ctl = win.controller
    while not ctl.model.ready:
        app.processEvents()
        time.sleep(0.01)
        if ctl.notices.last_error:
            raise RuntimeError(ctl.notices.last_error)
    stop_load_pauses()
    win.features.set_sort(sort)  # the feature list re-sorts while streaming
    ctl.features.set_pinned(range(5))  # 5 pinned features
    ctl.conversation.set_sampling(replace(ctl.conversation.sampling, max_new_tokens=tokens, temperature=0.8, seed=1))
    ticks: list[float] = []
    tick = QTimer()
    tick.setTimerType(Qt.PreciseTimer)
    tick.setInterval(1)  # the event loop runs freely; a gap between ticks = the loop was blocked that long
    tick.timeout.connect(lambda: ticks.append(time.perf_counter()))
    streamed = []
    ctl.conversation.token.connect(lambda ev: streamed.append(ev))
    loop = QEventLoop()
    ctl.conversation.busy_changed.connect(lambda busy: busy or QTimer.singleShot(100, loop.quit))
    # baseline in the same run: the same tick timer for idle_s with the model idle (machine noise floor)
    base: list[float] = []
    idle = QTimer()
    idle.setTimerType(Qt.PreciseTimer)
    idle.setInterval(1)
    idle.timeout.connect(lambda: base.append(time.perf_counter()))
    idle.start()
    idle_loop = QEventLoop()
    QTimer.singleShot(int(1000 * idle_s), idle_loop.quit)
    idle_loop.exec()
    idle.stop()
    base_gaps = [1000 * (b - a) for a, b in zip(base, base[1:])]
    pauses, stop_pauses = _gc_pauses()
    tick.start()
    QTimer.singleShot(0, lambda: ctl.conversation.send("Write a long story about a lighthouse keeper and the sea."))
    t0 = time.perf_counter()
    loop.exec()
    seconds = time.perf_counter() - t0
    tick.stop()
    stop_pauses()
    gaps = [1000 * (b - a) for a, b in zip(ticks, ticks[1:])]
    worst = sorted(range(len(gaps)), key=lambda i: -gaps[i])[:5]
    n = sum(not e.is_prompt for e in streamed)
    gui_gc = [ms for on_gui, _g, ms in pauses if on_gui]
    res = {"gc_mode": gc_mode,
           "gc_collections_during_load": {"gui_thread": sum(g for g, _gen, _ms in load_pauses),
                                          "other_threads": sum(not g for g, _gen, _ms in load_pauses)},
           "gc_collections": {"gui_thread": len(gui_gc), "other_threads": len(pauses) - len(gui_gc),
                                                  "gui_thread_max_ms": round(max(gui_gc, default=0.0), 2),
                                                  "full": sum(g == 2 for _t, g, _ms in pauses)},
           "feature_sort": sort, "tokens": n, "seconds": round(seconds, 2), "tok_per_s": round(n / seconds, 1),
           "ticks": len(ticks),
           "gap_p50_ms": round(_pct(gaps, 50), 2), "gap_p99_ms": round(_pct(gaps, 99), 2),
           "gap_max_ms": round(max(gaps), 2),
           "worst_gaps_at_s": [(round(ticks[i] - t0, 2), round(gaps[i], 1)) for i in worst],
           "strip_points": win.strip.n_points("main"), "last_error": ctl.notices.last_error,
           "idle_baseline": {"gap_p99_ms": round(_pct(base_gaps, 99), 2), "gap_max_ms": round(max(base_gaps), 2)}}
    win.close()
    return res


def bench_search(sae, rounds: int = 5) -> dict:
    from desktop_sae.core.features.catalog import FeatureCatalog
    from desktop_sae.core.features.readout import load_dictionary
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.support.paths import default_sae_dir
    from desktop_sae.gui.app import make_app
    from desktop_sae.gui.feature_panel import FeaturePanel

    make_app()
    path = sae or str(default_sae_dir())
    s = load_sae(path)
    st = s.stats
    t0 = time.perf_counter()
    cat = FeatureCatalog(s.cfg.d_sae, st.max_activation if st else None, st.density if st else None,
                         st.mean_activation if st else None, load_dictionary(path), path)
    build = time.perf_counter() - t0
    queries = ["bridge", "code", "the", "#123", "123", "secret pass", "zzzz", "san francisco", "error", "a"]
    search_ms, panel_ms = [], []
    panel = FeaturePanel()
    panel.set_catalog(cat)
    panel.resize(420, 600)
    panel.show()
    for _ in range(rounds):
        for q in queries:
            t = time.perf_counter()
            cat.search(q)
            search_ms.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            panel.search.setText(q)  # search + sort + model reset
            panel_ms.append(1000 * (time.perf_counter() - t))
    return {"features": cat.d_sae, "dictionary": cat.dictionary is not None, "catalog_build_ms": round(1000 * build, 1),
            "search_p50_ms": round(_pct(search_ms, 50), 3), "search_max_ms": round(max(search_ms), 3),
            "panel_refresh_p50_ms": round(_pct(panel_ms, 50), 3), "panel_refresh_max_ms": round(max(panel_ms), 3)}


def summarise(res: dict) -> dict:
    """The values the docs quote: launch times (median and range over the launches), the stall test's gaps."""
    out: dict = {}
    if "launch" in res:
        paint, ready = res["launch"]["first_paint_s"], res["launch"]["ready_s"]
        out.update(launches=len(ready), first_paint_s_median=round(_bench.median(paint), 2),
                   first_paint_s_min=min(paint), first_paint_s_max=max(paint),
                   ready_s_median=round(_bench.median(ready), 2), ready_s_min=min(ready), ready_s_max=max(ready))
        for e, r in res["launch"].get("other_engines", {}).items():  # the same launches through another engine
            p, q = r["first_paint_s"], r["ready_s"]
            out.update({f"{e}_first_paint_s_median": round(_bench.median(p), 2), f"{e}_first_paint_s_min": min(p),
                        f"{e}_first_paint_s_max": max(p), f"{e}_ready_s_median": round(_bench.median(q), 2),
                        f"{e}_ready_s_min": min(q), f"{e}_ready_s_max": max(q),
                        f"{e}_over_default_ready_median": round(_bench.median(q) / _bench.median(ready), 2)})
    if "stall" in res:
        st = res["stall"]
        out.update(stall_tokens=st["tokens"], stall_gap_p99_ms=st["gap_p99_ms"], stall_gap_max_ms=st["gap_max_ms"],
                   stall_tok_s=st["tok_per_s"], idle_gap_p99_ms=st["idle_baseline"]["gap_p99_ms"])
    if "search" in res:
        out.update(search_p50_ms=res["search"]["search_p50_ms"],
                   panel_refresh_p50_ms=res["search"]["panel_refresh_p50_ms"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sae", default=None, help="SAE folder (default: the bundled SAE)")
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--launches", type=int, default=5, help="fresh processes timed to first paint and ready")
    _bench.add_args(ap, DEFAULT)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--skip", default="", help="comma list of launch,stall,search to skip")
    ap.add_argument("--also-transformers", action="store_true",
                    help="launches alternate with DESKTOP_SAE_ENGINE=transformers (the path before the lite engine)")
    ap.add_argument("--gc-compare", type=int, default=0, metavar="N",
                    help="only the stall test, N rounds alternating GUI-thread GC and automatic GC (same run)")
    ap.add_argument("--switch-ms", type=float, default=None, help="sys.setswitchinterval for the run (GIL hand-off)")
    a = ap.parse_args()
    if a.switch_ms:
        sys.setswitchinterval(a.switch_ms / 1000)
    if a.child:
        launch_child(a.sae)
        return 0
    load_before = _bench.start()
    if a.smoke:
        a.tokens, a.launches = min(a.tokens, 8), 1
    idle_s = 0.5 if a.smoke else 5.0
    skip = set(a.skip.split(","))
    res: dict = {"tokens": a.tokens}
    if a.gc_compare:
        rows = []
        for i in range(a.gc_compare):
            for mode in ("gui", "auto"):
                rows.append(bench_stall(a.sae, a.tokens, gc_mode=mode, idle_s=idle_s))
                print(f"round {i + 1} {mode}", rows[-1], flush=True)
        res["gc_compare"] = rows
        skip = {"search", "launch", "stall"}
    if "search" not in skip:
        res["search"] = bench_search(a.sae, rounds=1 if a.smoke else 5)
        print("search", res["search"], flush=True)
    if "launch" not in skip:
        engines = (None, "transformers") if a.also_transformers else (None,)
        res["launch"] = bench_launch(a.sae, a.launches, engines)
        print("launch", res["launch"], flush=True)
    if "stall" not in skip:
        res["stall"] = bench_stall(a.sae, a.tokens, idle_s=idle_s)
        print("stall", res["stall"], flush=True)
        if not a.smoke:
            res["stall_sorted_by_id"] = bench_stall(a.sae, a.tokens, "id", idle_s=idle_s)
            print("stall (feature list by id)", res["stall_sorted_by_id"], flush=True)
    summary = summarise(res) or {"gc_compare_rounds": a.gc_compare}
    _bench.write(a, DEFAULT, summary, res, load_before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
