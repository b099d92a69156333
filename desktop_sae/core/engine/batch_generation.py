"""Several answers in one batch: the prompts are padded on the left and every step runs the whole batch through the
model at once. On a CPU this reads the weights once per step for every answer rather than once per answer. The
steering evaluation uses it.

Each row has its own ``sampler.Sampler``, with the same sampling rules and seed handling as
``generation.generate_tokens``, and the steering goes through the same ``SAETap``. Batched arithmetic can differ from
one answer at a time in the last bits. After a near-tie a sampled answer can then differ from the app's for the same
seed. An evaluation makes its steered and default answers the same way, so they stay paired.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..steering.specs import NO_STEERING, SteeringConfig
from .generation import _out_cache, cache_kwarg
from .hooks import hooks
from .sae_tap import SAETap
from .sampler import Sampler
from .sampling import SamplingConfig

if TYPE_CHECKING:
    from .session import Session


@dataclass(frozen=True)
class BatchAnswer:
    answer_ids: tuple[int, ...]
    text: str
    stop_reason: str  # 'eos' | 'max_tokens' | 'cancelled'


def _left_pad(prompts: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [B, W] padded on the left with ``pad``, and the attention mask (1 = a real token)."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        if p:
            ids[i, width - len(p):] = torch.tensor(list(p))
            mask[i, width - len(p):] = 1
    return ids, mask


def _pad_id(session: Session) -> int:
    """A token id for padding (never attended to): a special token's."""
    return min(session.special_ids) if session.special_ids else 0


@torch.inference_mode()
def generate_batch(session: Session, prompt_ids: Sequence[Sequence[int]], samplings: Sequence[SamplingConfig],
                   steering: SteeringConfig = NO_STEERING,
                   cancel: Callable[[], bool] | None = None) -> list[BatchAnswer]:
    """One answer per prompt (``samplings[i]`` for ``prompt_ids[i]``), all steered by ``steering``."""
    if len(prompt_ids) != len(samplings):
        raise ValueError("give one sampling configuration per prompt")
    if not prompt_ids:
        return []
    if any(not p for p in prompt_ids):
        raise ValueError("every prompt needs at least one token")
    model, tok = session.lm.model, session.lm.tokenizer
    dev = next(model.parameters()).device
    special, stop = set(session.special_ids), set(session.stop_ids)
    pad = _pad_id(session)
    ids, mask = _left_pad(prompt_ids, pad)
    pos = (mask.cumsum(-1) - 1).clamp_min(0)
    tap = None
    taps: dict[str, SAETap] = {}
    if steering.active and session.sae is not None:
        assert session.hook_name is not None  # attach_sae sets it with the SAE
        tap = taps[session.hook_name] = SAETap(session.sae, session.plan(steering))
        tap.record = False
    b = len(prompt_ids)
    samplers = [Sampler(s, len(tok), p) for s, p in zip(samplings, prompt_ids)]
    answers: list[list[int]] = [[] for _ in range(b)]
    reasons = ["max_tokens"] * b
    done = [s.max_new_tokens == 0 for s in samplings]
    cancelled = cancel or (lambda: False)

    def set_mask(x: torch.Tensor, live: torch.Tensor) -> None:
        if tap is not None:  # steer ordinary tokens only (when asked), never padding
            keep = live.clone().float()
            if steering.skip_special:
                keep *= torch.tensor([[t not in special for t in row] for row in x.tolist()], dtype=torch.float32)
            tap.mask = keep.to(dev)

    kw = cache_kwarg(model)
    with hooks(model, taps):
        set_mask(ids, mask)
        out = model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev), use_cache=True,
                    logits_to_keep=1)
        cache, last = _out_cache(out), pos[:, -1]
        while not all(done):
            if cancelled():
                reasons = [r if d else "cancelled" for r, d in zip(reasons, done)]
                break
            nxt = []
            for i in range(b):
                if done[i]:
                    nxt.append(pad)
                    continue
                t = samplers[i](out.logits[i, -1])
                answers[i].append(t)
                if t in stop:
                    done[i], reasons[i] = True, "eos"
                elif len(answers[i]) >= samplings[i].max_new_tokens:
                    done[i] = True
                nxt.append(t)
            if all(done):
                break
            x = torch.tensor(nxt)[:, None]
            live = torch.tensor([[0 if d else 1] for d in done])
            mask = torch.cat([mask, torch.ones(b, 1, dtype=torch.long)], 1)
            last = last + 1
            set_mask(x, live)
            out = model(input_ids=x.to(dev), attention_mask=mask.to(dev), position_ids=last[:, None].to(dev),
                        use_cache=True, logits_to_keep=1, **{kw: cache})
            cache = _out_cache(out)
    texts = [tok.decode(a, skip_special_tokens=True).rstrip("\ufffd") for a in answers]  # as generate_tokens
    return [BatchAnswer(tuple(a), t, r) for a, t, r in zip(answers, texts, reasons)]
