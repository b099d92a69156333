"""App state and controller (no Qt)."""
