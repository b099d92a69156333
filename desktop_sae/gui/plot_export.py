"""Copy a plot (any widget) as an image: to the clipboard, as PNG bytes, or from a small "Copy as image" button."""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QToolButton, QWidget

COPY_TEXT = "Copy as image"


def widget_image(widget: QWidget) -> QImage:
    """The widget as it looks now (``grab()``), as a QImage."""
    return widget.grab().toImage()


def copy_widget_image(widget: QWidget) -> QImage:
    """Put the widget's picture on the clipboard (paste it into slides or a worksheet); returns the image."""
    img = widget_image(widget)
    QGuiApplication.clipboard().setImage(img)
    return img


def widget_png_bytes(widget: QWidget) -> bytes:
    """The widget's picture encoded as PNG."""
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    widget.grab().save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def copy_button(target: QWidget, parent: QWidget | None = None, text: str = COPY_TEXT) -> QToolButton:
    """A small button that copies ``target`` as an image when clicked."""
    b = QToolButton(parent)
    b.setText(text)
    b.setToolTip("Copy this plot to the clipboard as a picture")
    b.setAutoRaise(True)
    b.clicked.connect(lambda: copy_widget_image(target))
    return b
