"""The Qt desktop app (PySide6 + pyqtgraph). Widgets live here; all computing is in ``desktop_sae.core``."""
