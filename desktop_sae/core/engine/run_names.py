"""Which answer a token belongs to (torch-free, so the app can name runs before the engine loads)."""

from __future__ import annotations

from ..support.text_enum import TextEnum


class Run(TextEnum):
    """The only answer, or (side by side) the steered or the default one."""

    MAIN = "main"
    STEERED = "steered"
    DEFAULT = "default"
