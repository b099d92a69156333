"""How many threads a decoding step uses on the CPU, chosen by the steps' measured time.

Each weight product of a step is split across torch's threads and joined before the next one; a step has ~120 of
them. With every core free, more threads read the weights faster (bundled model, 2 cores: 13.5 ms of products with
2 threads against 19.4 ms with 1). But when another process holds one of the cores, every join waits for that core's
time slice: measured on 2 cores with one busy, decoding fell to 0.7 tok/s with 2 threads against 25 tok/s with 1.
A laptop in a classroom has a browser running, so :class:`StepThreads` watches the steps' time: when steps on all
threads become much slower than they were (3x, and over 50 ms: a tiny model's millisecond steps never count), it
tries one thread for a few steps and keeps whichever is faster; while on one thread it tries all threads again now
and then (less often each time that loses), so it returns once the core is free. On an idle machine it never
switches, so answers stay bit-identical run to run (thread counts change floating-point summation order). The
choice carries over to the next answer (module-level :data:`GOVERNOR`); the caller's thread count is restored after
every generation. ``DESKTOP_SAE_STEP_THREADS=fixed`` turns it off.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


class StepThreads:
    """The thread-count governor: ``with g.active(cpu): ... with g.step(): <one token>``."""

    def __init__(self, window: int = 3, every: int = 64, slowdown: float = 3.0, min_step: float = 0.05,
                 set_threads: Callable[[int], None] = torch.set_num_threads):
        self.window, self.every, self.slowdown, self.min_step = window, every, slowdown, min_step
        self.set_threads = set_threads
        self.options: tuple[int, ...] = ()
        self.enabled = os.environ.get("DESKTOP_SAE_STEP_THREADS", "").strip().lower() != "fixed"

    def _reset(self, full: int) -> None:
        self.options = (full, 1) if full > 1 else (full,)
        self.current = full
        self.recent: dict[int, list[float]] = {n: [] for n in self.options}  # the last ``window`` steps of each
        self.best: dict[int, float] = {}  # the fastest window median seen (the slowdown reference)
        self.since = 0  # steps since the last decision
        self.interval = self.every  # steps between probes; doubles each time a probe loses
        self.probing = 0  # steps left on the option being tried
        self.probe_from = full

    @contextmanager
    def active(self, cpu: bool) -> Iterator[StepThreads | None]:
        """Run a generation's steps under the governor (None when there is nothing to choose: a GPU, one thread)."""
        full = torch.get_num_threads()
        if not cpu or full <= 1 or not self.enabled:
            yield None
            return
        if self.options[:1] != (full,):  # first use, or the caller changed the thread count
            self._reset(full)
        try:
            self.set_threads(self.current)
            yield self
        finally:
            self.set_threads(full)

    @contextmanager
    def step(self) -> Iterator[None]:
        """Time one single-token step."""
        t = time.perf_counter()
        yield
        self.record(time.perf_counter() - t)

    def _median(self, n: int) -> float:
        r = self.recent[n]
        return statistics.median(r) if r else float("inf")

    def _switch(self, n: int) -> None:
        self.current = n
        self.set_threads(n)

    def record(self, seconds: float) -> None:
        """Account one step of ``seconds`` on the current thread count and decide the next step's count."""
        if len(self.options) < 2:
            return
        cur = self.current
        r = self.recent[cur]
        r.append(seconds)
        del r[: -self.window]
        if len(r) == self.window:
            self.best[cur] = min(self.best.get(cur, float("inf")), self._median(cur))
        if self.probing:
            self.probing -= 1
            if not self.probing:
                back = self.probe_from
                if self._median(cur) < self._median(back):  # the probe won: stay
                    self.interval = self.every
                else:  # it lost: back, probe less often, and take the old count's slowness as the machine's
                    self.interval = min(2 * self.interval, 64 * self.every)
                    self.best[back] = max(self.best.get(back, 0.0), self._median(back))
                    self._switch(back)
                self.since = 0
            return
        self.since += 1
        full, other = self.options[0], self.options[1] if cur == self.options[0] else self.options[0]
        med = self._median(cur)
        slow = len(r) == self.window and med > self.min_step and med > self.slowdown * self.best[cur]
        retry = cur != full and self.since >= self.interval  # on fewer threads: is the core free again?
        if slow or retry:
            self.recent[other].clear()
            self.probe_from, self.probing = cur, self.window
            self._switch(other)


GOVERNOR = StepThreads()
