"""Widgets and the app's sub-models live differently long: a dialog closes while the model it shows lives on.
``bind`` connects a sub-model's signal to a widget's slot so that the slot is never called once the widget's C++
object is gone; ``own_run`` makes a widget's run stop (and its late messages be dropped) when the widget goes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject

from ..app.events import Signal
from ..app.runs import Run


def alive(obj: QObject) -> Callable[[], bool]:
    return lambda: shiboken6.isValid(obj)


def bind(signal: Signal[Any], obj: QObject, slot: Callable[..., object]) -> None:
    """``signal.connect(slot)`` for as long as ``obj`` exists."""
    signal.connect(slot, alive(obj))


def own_run(obj: QObject, run: Run[Any, Any]) -> None:
    """Cancel ``run`` and drop what it still sends when ``obj`` is destroyed (the lambda holds no reference to
    ``obj``, so it cannot keep it alive)."""
    obj.destroyed.connect(lambda *_a, r=run: r.close())
