"""Plots as images: copy to the clipboard ("Copy as image") or as PNG bytes for the session report."""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget


def copy_widget_image(widget: QWidget) -> None:
    QGuiApplication.clipboard().setPixmap(widget.grab())


def widget_png_bytes(widget: QWidget) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.WriteOnly)
    widget.grab().save(buf, "PNG")
    buf.close()
    return bytes(data)
