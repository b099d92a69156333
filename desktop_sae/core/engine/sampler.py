"""Choosing the next token from the logits (the app's sampling rules), and the numbers behind the "alternatives" a
generated token carries.

Imports torch and the settings only: the nnsight backend ships this module by value to wherever the model runs
(NDIF's server or this process), so a remote answer is sampled by the same code as a local one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .sampling import SamplingConfig


class Sampler:
    def __init__(self, cfg: SamplingConfig, vocab: int, prompt_ids: Sequence[int]) -> None:
        self.cfg = cfg.validate()
        self.gen = torch.Generator().manual_seed(cfg.seed if cfg.seed is not None else torch.seed())
        self.counts = torch.zeros(vocab, dtype=torch.float32)
        self.seen = torch.zeros(vocab, dtype=torch.bool)
        if prompt_ids:
            self.seen[torch.tensor(list(prompt_ids))] = True

    def __call__(self, logits: torch.Tensor) -> int:
        c = self.cfg
        logits = logits.float().cpu()
        if logits.shape[-1] > self.counts.shape[0]:  # lm_head larger than the tokenizer (padding rows)
            logits = logits[: self.counts.shape[0]]
        if c.repetition_penalty != 1.0 and self.seen.any():  # not in place: ``logits`` may be the model's output
            pen = torch.where(logits > 0, logits / c.repetition_penalty, logits * c.repetition_penalty)
            logits = torch.where(self.seen, pen, logits)
        if c.frequency_penalty:
            logits = logits - c.frequency_penalty * self.counts
        if c.temperature == 0:
            tok = int(logits.argmax())
        else:
            logits = logits / c.temperature
            if c.top_k and c.top_k < logits.shape[0]:
                kth = logits.topk(c.top_k).values[-1]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            if c.top_p < 1.0:
                srt, idx = logits.sort(descending=True)
                cum = srt.softmax(-1).cumsum(-1)
                drop = cum - srt.softmax(-1) > c.top_p  # keep the smallest prefix reaching top_p
                logits[idx[drop]] = float("-inf")
            tok = int(torch.multinomial(logits.softmax(-1), 1, generator=self.gen))
        self.counts[tok] += 1
        self.seen[tok] = True
        return tok


def top_n(x: torch.Tensor, n: int, block: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """``x.topk(n)`` of a long 1-D tensor, ~4x faster on a CPU: the top n lie in the n blocks with the largest
    maxima (each holds an element >= the n-th largest), so only those n blocks are searched."""
    m = x.shape[-1]
    if m <= block * n * 4:
        return x.topk(n)
    pad = (-m) % block
    rows = (torch.nn.functional.pad(x, (0, pad), value=float("-inf")) if pad else x).view(-1, block)
    best = rows.amax(-1).topk(n).indices
    vals, j = rows[best].reshape(-1).topk(n)
    return vals, best[j // block] * block + j % block


def alternative_numbers(logits: torch.Tensor, lse: torch.Tensor, n: int, tok: int
                        ) -> tuple[list[int], list[float], float]:
    """(ids, probabilities) of the ``n`` likeliest tokens under softmax(``logits``) and the probability of ``tok``;
    ``lse`` is ``logsumexp(logits)``."""
    vals, ids = top_n(logits, n)
    return ids.tolist(), (vals - lse).exp().tolist(), float((logits[tok] - lse).exp())
