"""The cyclic garbage collector runs on the GUI thread only while a window (and so an inference thread) is alive.

Regression: CI hung when the inference thread's automatic collection destroyed Qt wrappers of a closed window
(~QObject on the wrong thread waited for the GIL while the GUI thread waited for Qt's mutex).
"""

import gc
import threading

from conftest import make_tiny_loader
from desktop_sae.gui.gc_guard import GuiThreadGC


class _Cycle:
    def __init__(self, log):
        self.me = self
        self.log = log

    def __del__(self):
        self.log.append(threading.get_ident())


def _collections_by_thread():
    seen = []

    def cb(phase, info):
        if phase == "start":
            seen.append(threading.get_ident())

    gc.callbacks.append(cb)
    return seen, lambda: gc.callbacks.remove(cb)


def test_guard_turns_automatic_collection_off_and_collects_on_the_gui_thread(qapp, qtbot):
    assert gc.isenabled()
    guard, other = GuiThreadGC(), GuiThreadGC()
    guard.acquire()
    other.acquire()
    guard.acquire()  # idempotent per holder
    try:
        assert not gc.isenabled() and GuiThreadGC.active()
        freed: list[int] = []
        seen, stop = _collections_by_thread()
        try:

            def churn():  # far past the generation-0 threshold: automatic collection would run here
                for _ in range(20 * gc.get_threshold()[0]):
                    _Cycle(freed)

            t = threading.Thread(target=churn)
            t.start()
            t.join()
            assert freed == [] and seen == []  # nothing collected on the other thread
            qtbot.waitUntil(lambda: len(freed) > 0, timeout=5000)  # the GUI thread's timer collects
        finally:
            stop()
        assert set(freed) == {threading.get_ident()} and set(seen) == {threading.get_ident()}
        guard.release()
        assert not gc.isenabled(), "another holder still needs the guard"
    finally:
        guard.release()
        other.release()
    assert gc.isenabled() and not GuiThreadGC.active()


def test_a_window_holds_the_guard_until_it_closes(make_window, tiny_sae_dir):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    assert not gc.isenabled() and GuiThreadGC.active()
    win.close()
    assert not win.worker.thread.isRunning()
    assert gc.isenabled() and not GuiThreadGC.active()


def test_full_collections_wait_while_a_holder_is_busy(qapp):
    from desktop_sae.gui.gc_guard import _collector

    busy = [True]
    guard = GuiThreadGC(busy=lambda: busy[0])
    guard.acquire()
    try:
        c = _collector()
        c.last_full = 0.0  # long ago: only the busy check can hold a full collection back
        for _ in range(gc.get_threshold()[2] + 1):
            gc.collect(1)  # each generation-1 collection counts towards a full one
        due = gc.get_count()[2]
        assert due > gc.get_threshold()[2]
        c.collect_due()
        assert gc.get_count()[2] >= due, "a full collection ran while busy"
        busy[0] = False
        c.collect_due()
        assert gc.get_count()[2] == 0, "the due full collection did not run once idle"
        c.collect_due()  # and not again right away
        assert c.last_full > 0.0
    finally:
        guard.release()
    assert gc.isenabled()
