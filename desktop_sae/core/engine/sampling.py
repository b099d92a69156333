"""How the token loop samples one answer: temperature, top-p, top-k, penalties, seed and length (torch-free, so
settings can be built and checked before the engine loads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingConfig:
    """Defaults follow Neuronpedia's steering page: temperature 0.5, frequency penalty 1.0, fixed seed."""

    temperature: float = 0.5  # 0 = greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    frequency_penalty: float = 1.0  # subtracted per previous occurrence in the answer (OpenAI convention)
    repetition_penalty: float = 1.0  # HF convention, over prompt + answer
    seed: int | None = 42
    max_new_tokens: int = 128

    def validate(self) -> SamplingConfig:
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0 or self.max_new_tokens < 0:
            raise ValueError("top_k and max_new_tokens must be >= 0")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        return self


