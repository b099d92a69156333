"""The token loop: streaming generation with a KV cache, sampling, cancellation and per-token SAE readouts.

Each token passes through the model once: the forward that consumes it also runs the SAE tap at the hook
point (encode + steer + record) and yields the logits for the next token. The last token's readout comes
from a forward stopped right after the hook layer.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .hooks import HookFn, StopForward, hooks
from .run_names import Run
from .sampler import Sampler, alternative_numbers
from .sampling import SamplingConfig
from .step_threads import GOVERNOR

if TYPE_CHECKING:
    from .sae_tap import SAETap, TapRecord

# Any below: transformers' tokenizers, model outputs and KV caches (or the lite engine's look-alikes)
CancelFn = Callable[[], bool]
Alts = tuple[tuple[tuple[str, float], ...], float | None]  # ((text, probability) of the likeliest, chosen's)


@dataclass(frozen=True)
class TokenEvent:
    """One token's readout. Arrays are numpy copies: safe to hand to another thread."""

    index: int  # position in the whole sequence (prompt + answer)
    token_id: int
    text: str  # this token's own text
    delta: str  # text to append to the streamed answer (may hold back a partial UTF-8 character)
    is_prompt: bool
    is_special: bool
    top_ids: np.ndarray | None  # int64 [K] strongest features (post-steering activations)
    top_vals: np.ndarray | None  # float32 [K]
    watched: np.ndarray | None  # float32 [W] activations of the watched features
    norm: float  # residual L2 norm at the hook
    run: Run = Run.MAIN
    # generated tokens only: the model's next-token distribution that chose this token, as softmax(logits) at
    # temperature 1 before any penalty, top-p or top-k: the most likely tokens (text, probability) and this token's
    alternatives: tuple[tuple[str, float], ...] = ()
    prob: float | None = None


@dataclass(frozen=True)
class GenerationResult:
    text: str
    prompt_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]
    events: tuple[TokenEvent, ...]
    stop_reason: str  # 'eos' | 'max_tokens' | 'cancelled'
    seconds: float
    run: Run = Run.MAIN

    @property
    def tokens_per_second(self) -> float:
        return len(self.answer_ids) / self.seconds if self.seconds > 0 else 0.0


def cache_kwarg(model: nn.Module) -> str:
    """transformers >= 5 names the KV cache argument ``cache``; older versions ``past_key_values``."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _out_cache(out: Any) -> Any:
    return getattr(out, "cache", None) if getattr(out, "cache", None) is not None else out.past_key_values


class Detokenizer:
    """Incremental detokenisation in O(1) per token: decodes a short window, holds back partial UTF-8."""

    def __init__(self, tokenizer: Any) -> None:
        self.tok = tokenizer
        self.ids: list[int] = []
        self.prefix = 0  # window start
        self.read = 0  # ids before this are already emitted

    def piece(self, tid: int) -> str:
        return self.tok.decode([tid], skip_special_tokens=False)

    def push(self, tid: int, special: bool, final: bool = False) -> str:
        if not special:
            self.ids.append(tid)
        elif not final:
            return ""
        dec = lambda a, b=None: self.tok.decode(self.ids[a:b], skip_special_tokens=True)  # noqa: E731
        before = dec(self.prefix, self.read)
        now = dec(self.prefix)
        if now.endswith("\ufffd"):
            if not final:
                return ""
            now = now.rstrip("\ufffd")  # cut mid-character by max_tokens: drop the dangling partial byte
        if len(now) <= len(before):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return now[len(before) :]


class Alternatives:
    """The top-n of softmax(logits) (temperature 1, before penalties) and the chosen token's probability: one
    logsumexp and one top-k over the vocabulary per token, then a few scalars. Token texts are decoded once per id."""

    def __init__(self, n: int, vocab: int, piece: Callable[[int], str]) -> None:
        self.n, self.vocab, self.piece = n, vocab, piece
        self.texts: dict[int, str] = {}
        self.logits: torch.Tensor | None = None
        self.lse: torch.Tensor | None = None

    def see(self, logits: torch.Tensor) -> None:
        if self.n:
            self.logits = logits[: self.vocab].float()  # may share memory with the output: read, never written
            self.lse = torch.logsumexp(self.logits, -1)

    def of(self, tok: int) -> Alts:
        if not self.n:
            return (), None
        assert self.logits is not None and self.lse is not None  # see() ran first
        ids, probs, prob = alternative_numbers(self.logits, self.lse, self.n, tok)
        return self.named(ids, probs), prob

    def named(self, ids: Sequence[int], probs: Sequence[float]) -> tuple[tuple[str, float], ...]:
        """(text, probability) pairs; each id is decoded once."""
        out = []
        for i, p in zip(ids, probs):
            if i not in self.texts:
                self.texts[i] = self.piece(i)
            out.append((self.texts[i], p))
        return tuple(out)


def token_events(rec: TapRecord | None, ids: Sequence[int], start: int, texts: Sequence[str], deltas: Sequence[str],
                 is_prompt: bool, specials: Sequence[bool], run: Run, alts: Alts = ((), None)) -> list[TokenEvent]:
    top_ids = rec.top_ids.cpu().numpy() if rec is not None and rec.top_ids is not None else None
    top_vals = rec.top_vals.float().cpu().numpy() if rec is not None and rec.top_vals is not None else None
    watched = rec.watched.float().cpu().numpy() if rec is not None and rec.watched is not None else None
    norms = rec.norms.cpu().numpy() if rec is not None else np.zeros(len(ids), np.float32)
    out = []
    for j, tid in enumerate(ids):
        out.append(
            TokenEvent(
                index=start + j,
                token_id=int(tid),
                text=texts[j],
                delta=deltas[j],
                is_prompt=is_prompt,
                is_special=bool(specials[j]),
                top_ids=None if top_ids is None else top_ids[j].copy(),
                top_vals=None if top_vals is None else top_vals[j].copy(),
                watched=None if watched is None else watched[j].copy(),
                norm=float(norms[j]),
                run=run,
                alternatives=alts[0],
                prob=alts[1],
            )
        )
    return out


@torch.inference_mode()
def generate_tokens(
    model: nn.Module,
    tokenizer: Any,
    prompt_ids: Sequence[int],
    sampling: SamplingConfig,
    *,
    tap: SAETap | None = None,
    hook_name: str | None = None,
    steer_hook: str | None = None,
    stop_ids: Sequence[int] = (),
    special_ids: Sequence[int] = (),
    skip_special: bool = True,
    on_token: Callable[[TokenEvent], None] | None = None,
    cancel: CancelFn | None = None,
    run: Run = Run.MAIN,
    alternatives: int = 5,
) -> GenerationResult:
    """Generate up to ``sampling.max_new_tokens`` tokens after ``prompt_ids``; see module docstring. Each
    generated token's event carries the ``alternatives`` most likely next tokens (0 = none)."""
    t0 = time.perf_counter()
    dev = next(model.parameters()).device
    special = set(int(s) for s in special_ids)
    stop = set(int(s) for s in stop_ids)
    sampler = Sampler(sampling, len(tokenizer), prompt_ids)
    detok = Detokenizer(tokenizer)
    alts = Alternatives(alternatives, len(tokenizer), detok.piece)
    kw = cache_kwarg(model)
    events: list[TokenEvent] = []
    answer: list[int] = []
    emit = on_token or (lambda e: None)
    cancelled = cancel or (lambda: False)

    one_token_masks = {False: torch.ones(1, 1, device=dev), True: torch.zeros(1, 1, device=dev)}

    def set_mask(ids: Sequence[int]) -> None:
        if tap is None:
            return
        if not skip_special:
            tap.mask = None
        elif len(ids) == 1:
            tap.mask = one_token_masks[ids[0] in special]
        else:
            tap.mask = torch.tensor([[0.0 if i in special else 1.0 for i in ids]], device=dev)

    def readout(ids: Sequence[int], start: int, is_prompt: bool, rec: TapRecord | None, final: bool = False,
                alt: Alts = ((), None)) -> None:
        specials = [i in special for i in ids]
        texts = [detok.piece(i) for i in ids]
        deltas = [""] * len(ids) if is_prompt else [detok.push(i, s, final) for i, s in zip(ids, specials)]
        for e in token_events(rec, ids, start, texts, deltas, is_prompt, specials, run, alt):
            events.append(e)
            emit(e)

    hooked: dict[str, HookFn] = {}  # the tap at its hook, or (an SAE that writes elsewhere) its read and write hooks
    if tap is not None and hook_name:
        hooked = {hook_name: tap} if steer_hook in (None, hook_name) else tap.hook_fns(hook_name, steer_hook)
    tapped = tap if hooked else None  # the tap, when it is installed at a hook point
    reason = "max_tokens"
    with GOVERNOR.active(dev.type == "cpu") as threads, hooks(model, hooked):
        ids = list(prompt_ids)
        if cancelled():
            return generation_result(tokenizer, prompt_ids, answer, events, "cancelled", t0, run)
        set_mask(ids)
        out = model(input_ids=torch.tensor([ids], device=dev), use_cache=True, logits_to_keep=1)
        cache = _out_cache(out)
        readout(ids, 0, True, tapped.last if tapped else None)
        pos = len(ids)
        for _ in range(sampling.max_new_tokens):
            if cancelled():
                reason = "cancelled"
                break
            alts.see(out.logits[0, -1])
            tok = sampler(out.logits[0, -1])
            alt = alts.of(tok)
            answer.append(tok)
            is_stop = tok in stop
            rec = None
            final = is_stop or len(answer) == sampling.max_new_tokens
            if not final:
                set_mask([tok])
                with threads.step() if threads else nullcontext():  # timed: it picks the thread count
                    out = model(input_ids=torch.tensor([[tok]], device=dev), use_cache=True, logits_to_keep=1,
                                **{kw: cache})
                cache = _out_cache(out)
                rec = tapped.last if tapped else None
            elif tapped:
                # the last token needs only its readout: run the model up to the hook layer and stop there
                set_mask([tok])
                tapped.stop_after = True
                try:
                    model(input_ids=torch.tensor([[tok]], device=dev), use_cache=True, **{kw: cache})
                except StopForward:
                    pass
                finally:
                    tapped.stop_after = False
                rec = tapped.last
            readout([tok], pos, False, rec, final, alt)
            pos += 1
            if is_stop:
                reason = "eos"
                break
    return generation_result(tokenizer, prompt_ids, answer, events, reason, t0, run)


def generation_result(tokenizer: Any, prompt_ids: Sequence[int], answer: list[int], events: list[TokenEvent],
                      reason: str, t0: float, run: Run) -> GenerationResult:
    return GenerationResult(
        text=answer_text(tokenizer, answer),
        prompt_ids=tuple(int(i) for i in prompt_ids),
        answer_ids=tuple(answer),
        events=tuple(events),
        stop_reason=reason,
        seconds=time.perf_counter() - t0,
        run=run,
    )


def answer_text(tokenizer: Any, answer: Sequence[int]) -> str:
    """An answer's text: its tokens decoded without special tokens, less a partial UTF-8 character at the end (cut
    by the token budget)."""
    return str(tokenizer.decode(list(answer), skip_special_tokens=True)).rstrip("\ufffd")
