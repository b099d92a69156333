"""Where an nnsight model runs and how to reach it: the ``Transport`` and the ``Target`` (model id, host, key). No
torch and no nnsight here: the app's load request carries a ``Target`` before either is imported."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..support.text_enum import TextEnum

DEFAULT_HOST = "https://api.ndif.us"


class Transport(TextEnum):
    IN_PROCESS = "nnsight"  # nnsight around a model loaded in this process
    SIMULATED = "nnsight-simulated"  # the same, through the serialisation a remote request goes through
    NDIF = "ndif"  # NDIF's servers run the model


@dataclass(frozen=True)
class Target:
    model_id: str
    transport: Transport
    host: str = ""  # NDIF only
    api_key: str = field(default="", repr=False)  # NDIF only; never printed

    @property
    def where(self) -> str:
        return self.host if self.transport is Transport.NDIF else "this process"

    def hide_key(self, text: str) -> str:
        """``text`` with the API key replaced (for a message that may quote a request)."""
        return text.replace(self.api_key, "<API key>") if self.api_key.strip() else text
