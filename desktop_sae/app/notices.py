"""What the app tells the user: a one-line status and errors. Any sub-model reports through this one object; the
window shows the status in its status bar and each error in a box."""

from __future__ import annotations

from .events import Signal


class Notices:
    def __init__(self) -> None:
        self.status = ""
        self.last_error: str | None = None
        self.status_changed: Signal[[str]] = Signal("status")
        self.error: Signal[[str, str]] = Signal("error")  # (title, message)

    def set_status(self, text: str) -> None:
        self.status = text
        self.status_changed.emit(text)

    def report_error(self, title: str, message: str) -> None:
        """Tell the user; the app state stays as it was."""
        self.last_error = message
        self.set_status(f"{title}: {message}")
        self.error.emit(title, message)
