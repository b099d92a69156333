"""Light and dark palettes (Fusion style) and the colours the plots and token highlights use."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

MODES = ("system", "light", "dark")
TRACE_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)


def _dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 31, 34), QColor(43, 45, 48), QColor(223, 225, 229)
    for role, c in {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: window,
        QPalette.ColorRole.ToolTipBase: QColor(55, 57, 61),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Highlight: QColor(53, 116, 240),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(110, 160, 255),
        QPalette.ColorRole.PlaceholderText: QColor(140, 143, 150),
    }.items():
        p.setColor(role, c)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 122, 128))
    return p


_system_palette: QPalette | None = None


def _qapp() -> QApplication:
    app = QApplication.instance()
    assert isinstance(app, QApplication), "a QApplication must exist"
    return app


def apply_theme(mode: str = "system", app: QApplication | None = None) -> str:
    """Apply ``mode`` ('system' | 'light' | 'dark'); returns the mode applied."""
    global _system_palette
    app = app or _qapp()
    mode = mode if mode in MODES else "system"
    app.setStyle("Fusion")
    if _system_palette is None:
        _system_palette = QPalette(app.palette())
    if mode == "dark":
        app.setPalette(_dark_palette())
    elif mode == "light":
        app.setPalette(app.style().standardPalette())
    else:
        app.setPalette(_system_palette)
    return mode


def is_dark(palette: QPalette | None = None) -> bool:
    pal = palette or _qapp().palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def heat(value: float, vmax: float, dark: bool) -> QColor:
    """Background for a token whose feature activation is ``value`` (0 = transparent)."""
    if vmax <= 0 or value <= 0:
        return QColor(0, 0, 0, 0)
    t = max(0.0, min(1.0, value / vmax))
    c = QColor(255, 140, 0) if dark else QColor(255, 120, 0)
    c.setAlpha(int(40 + 180 * t))
    return c


def plot_colors() -> tuple[str, str]:
    """(background, foreground) for pyqtgraph, following the palette."""
    pal = _qapp().palette()
    return pal.color(QPalette.ColorRole.Base).name(), pal.color(QPalette.ColorRole.Text).name()
