"""The Qt binding must not leak references on every slot call: PySide6 6.12.0 on Python < 3.12 decrements
None's reference count once per Python slot invocation (and True's once per emit), so an app with 30 Hz timers
aborts with "Fatal Python error: none_dealloc" after a few minutes. Pin PySide6 != 6.12.0."""

import sys

import pytest
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from desktop_sae.gui.app import binding_problem

pytestmark = pytest.mark.gui


def test_slot_calls_do_not_leak_none_or_bool_references(qapp):
    calls = []
    timer = QTimer()
    timer.setInterval(0)
    timer.timeout.connect(lambda: calls.append(1))

    class Emitter(QObject):
        sig = Signal(object)

    em = Emitter()
    em.sig.connect(calls.append)
    n0, t0 = sys.getrefcount(None), sys.getrefcount(True)
    timer.start()
    while len(calls) < 200:
        QCoreApplication.processEvents()
    timer.stop()
    for i in range(200):
        em.sig.emit(i)
    assert sys.getrefcount(None) - n0 > -50, "PySide6 leaks a reference to None per slot call: use another version"
    assert sys.getrefcount(True) - t0 > -50, "PySide6 leaks a reference to True per emit: use another version"
    assert binding_problem() is None
