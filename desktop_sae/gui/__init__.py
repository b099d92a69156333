"""The Qt desktop app (PySide6 + pyqtgraph): widgets that render the app's sub-models and runs and forward input to
them, and the window's assembly (``app.py``). All computing is in ``desktop_sae.core``."""
