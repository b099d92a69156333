"""Several answers in one batch: every step runs the rows still answering through the model at once. On a CPU
this reads the weights once per step for all of them rather than once per answer. The strength sweeps, the batch
CLI and the steering evaluation use it (docs/BATCHED_GENERATION.md).

Each row has its own prompt, ``sampler.Sampler`` (the same sampling rules and seed handling as
``generation.generate_tokens``) and steering: ``SAETap.steer_rows`` steers each row by its own plan, built by
``Session.plan`` as for a single answer. A row that ends (a stop token, its token budget) leaves the batch: its
KV cache rows are dropped and the next steps run without it. Prompts of one length run as they are; prompts of
different lengths are padded on the left (masked, never steered).

No per-token readouts: answers carry their tokens and text (``BatchAnswer``); a caller that needs each token's
features generates one at a time (``Session.generate``). Batched arithmetic can differ from one answer at a time in
the last bits (docs/BATCHED_GENERATION.md says where); after a near-tie a row's tokens can then differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import torch

from ..steering.plan import SteeringPlan
from ..steering.specs import NO_STEERING, SteeringConfig
from .batch_rows import DEFAULT_CHUNK, AnswerFn, BatchAnswer, BatchRow
from .generation import _out_cache, answer_text, cache_kwarg
from .hooks import HookFn, hooks
from .sae_tap import SAETap
from .sampler import Sampler
from .sampling import SamplingConfig
from .step_threads import StepThreads

if TYPE_CHECKING:
    from .session import Session

# the thread count of batched steps, chosen by their measured time as single answers' steps are (a batch's step
# takes longer than one answer's, so it has its own reference)
BATCH_THREADS = StepThreads()


def _left_pad(prompts: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [B, W] padded on the left with ``pad``, and the attention mask (1 = a real token)."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(list(p))
        mask[i, width - len(p):] = 1
    return ids, mask


def _pad_id(session: Session) -> int:
    """A token id for padding (never attended to): a special token's."""
    return min(session.special_ids) if session.special_ids else 0


def _drop_rows(cache: Any, keep: torch.Tensor) -> None:
    """Keep only the batch rows ``keep`` of a KV cache: transformers' caches, or the lite engine's ``LiteCache``."""
    select = getattr(cache, "batch_select_indices", None)
    keys, values = getattr(cache, "keys", None), getattr(cache, "values", None)
    if callable(select):
        select(keep)
    elif isinstance(keys, list) and isinstance(values, list):  # LiteCache: per layer [batch, heads, capacity, dim]
        cache.keys = [k.index_select(0, keep) for k in keys]
        cache.values = [v.index_select(0, keep) for v in values]
    else:
        raise TypeError(f"this model's KV cache ({type(cache).__name__}) cannot drop the rows that have finished")


def row_plans(session: Session, steerings: Sequence[SteeringConfig]) -> list[SteeringPlan]:
    """Each row's validated plan (``Session.plan``; raises SteeringError before anything runs), one plan object per
    distinct steering, so rows steered alike are steered together."""
    made: dict[SteeringConfig, SteeringPlan] = {}
    return [made[s] if s in made else made.setdefault(s, session.plan(s)) for s in steerings]


def row_tap(session: Session, plans: Sequence[SteeringPlan]) -> tuple[SAETap | None, dict[str, HookFn]]:
    """The tap that steers batch row ``i`` by ``plans[i]`` (recording nothing) and the hooks to install it at; no
    tap when no row is steered."""
    if session.sae is None or all(p.empty for p in plans):
        return None, {}
    assert session.hook_name is not None  # attach_sae sets it with the SAE
    tap = SAETap(session.sae, plans[0])
    tap.record = False
    tap.steer_rows(plans)
    return tap, tap.hook_fns(session.hook_name, session.steer_hook_name)


class _Rows:
    """The rows still in the batch: which answer each one is, whether it leaves special tokens unsteered, and (padded
    prompts) the attention mask and its last position."""

    def __init__(self, order: list[int], skip: list[bool], attn: torch.Tensor | None) -> None:
        self.order, self.skip, self.attn = order, skip, attn
        self.last = None if attn is None else attn.sum(-1) - 1  # [B] position of each row's last token

    def keep(self, j: Sequence[int]) -> None:
        """Keep the rows ``j`` (indices into the rows now in the batch)."""
        self.order, self.skip = [self.order[i] for i in j], [self.skip[i] for i in j]
        if self.attn is not None and self.last is not None:
            sel = torch.tensor(list(j), dtype=torch.long)
            self.attn, self.last = self.attn[sel], self.last[sel]

    def step(self) -> None:
        """One more token on every row."""
        if self.attn is not None and self.last is not None:
            self.attn = torch.cat([self.attn, torch.ones(len(self.order), 1, dtype=torch.long)], 1)
            self.last = self.last + 1

    def extra(self, t: int) -> dict[str, torch.Tensor]:
        """A forward's attention mask and position ids for ``t`` new tokens per row (none without padding: the
        forward is then the one a single answer runs)."""
        if self.attn is None or self.last is None:
            return {}
        pos = (self.attn.cumsum(-1) - 1).clamp_min(0)[:, -t:] if t > 1 else self.last[:, None]
        return {"attention_mask": self.attn, "position_ids": pos}


@torch.inference_mode()
def generate_batch(session: Session, prompt_ids: Sequence[Sequence[int]], samplings: Sequence[SamplingConfig],
                   steering: SteeringConfig | Sequence[SteeringConfig] = NO_STEERING,
                   cancel: Callable[[], bool] | None = None, on_answer: AnswerFn | None = None) -> list[BatchAnswer]:
    """One answer per prompt (``samplings[i]`` for ``prompt_ids[i]``), steered by ``steering``: one configuration
    for every row, or one per row. ``on_answer(i, answer)`` is called as each row ends (cancelled rows: at the end),
    while the batch's steering hooks are installed: it must not run the model."""
    b = len(prompt_ids)
    steerings = [steering] * b if isinstance(steering, SteeringConfig) else list(steering)
    if len(samplings) != b or len(steerings) != b:
        raise ValueError("give one sampling configuration (and one steering, or one for all) per prompt")
    if any(not p for p in prompt_ids):
        raise ValueError("every prompt needs at least one token")
    plans = row_plans(session, steerings)
    model, tok = session.lm.model, session.lm.tokenizer
    dev = next(model.parameters()).device
    special, stop = set(session.special_ids), set(session.stop_ids)
    samplers = [Sampler(s, len(tok), p) for s, p in zip(samplings, prompt_ids)]
    answers: list[list[int]] = [[] for _ in range(b)]
    results: dict[int, BatchAnswer] = {}

    def finish(i: int, reason: str) -> None:
        results[i] = BatchAnswer(tuple(prompt_ids[i]), tuple(answers[i]), answer_text(tok, answers[i]), reason)
        if on_answer is not None:
            on_answer(i, results[i])

    tap, taps = row_tap(session, plans)
    live = [i for i in range(b) if samplings[i].max_new_tokens > 0]
    for i in range(b):
        if i not in live:
            finish(i, "max_tokens")
    if not live or (cancel is not None and cancel()):
        for i in live:
            finish(i, "cancelled")
        return [results[i] for i in range(b)]
    prompts = [prompt_ids[i] for i in live]
    ids, attn = _left_pad(prompts, _pad_id(session))
    rows = _Rows(live, [steerings[i].skip_special for i in live], attn if len(set(map(len, prompts))) > 1 else None)

    def keep(j: Sequence[int]) -> None:
        rows.keep(j)
        if tap is not None:
            tap.steer_rows([plans[i] for i in rows.order])

    def forward(x: torch.Tensor, cache: Any = None) -> Any:
        if tap is not None:  # steer ordinary tokens only (where asked), never padding
            m = torch.tensor([[0.0 if skip and t in special else 1.0 for t in r]
                              for r, skip in zip(x.tolist(), rows.skip)])
            tap.mask = (m if rows.attn is None else m * rows.attn[:, -x.shape[1]:]).to(dev)
        kw: dict[str, Any] = {k: v.to(dev) for k, v in rows.extra(x.shape[1]).items()}
        if cache is not None:
            kw[cache_kwarg(model)] = cache
        return model(input_ids=x.to(dev), use_cache=True, logits_to_keep=1, **kw)

    keep(range(len(live)))
    with BATCH_THREADS.active(dev.type == "cpu") as threads, hooks(model, taps):
        out = forward(ids)
        cache = _out_cache(out)
        while True:
            if cancel is not None and cancel():
                for i in rows.order:
                    finish(i, "cancelled")
                break
            going, nxt = [], []
            for j, i in enumerate(rows.order):
                t = samplers[i](out.logits[j, -1])
                answers[i].append(t)
                if t in stop:
                    finish(i, "eos")
                elif len(answers[i]) >= samplings[i].max_new_tokens:
                    finish(i, "max_tokens")
                else:
                    going.append(j)
                    nxt.append(t)
            if not going:
                break
            if len(going) < len(rows.order):  # finished rows leave the batch
                _drop_rows(cache, torch.tensor(going, device=dev))
                keep(going)
            rows.step()
            with threads.step() if threads else nullcontext():  # timed: it picks the thread count
                out = forward(torch.tensor(nxt)[:, None], cache)
            cache = _out_cache(out)
    return [results[i] for i in range(b)]


def generate_rows(session: Session, rows: Sequence[BatchRow], chunk: int = DEFAULT_CHUNK,
                  cancel: Callable[[], bool] | None = None, on_answer: AnswerFn | None = None) -> list[BatchAnswer]:
    """An answer per row, ``chunk`` rows per batch in their order (1: one at a time, by ``Session.generate``);
    ``on_answer(i, answer)`` as row ``i`` ends. After a cancel the rows not begun come back empty, 'cancelled'."""
    if chunk < 1:
        raise ValueError(f"a batch holds at least one row, got {chunk}")
    if chunk == 1:
        return one_at_a_time(session, rows, cancel, on_answer)
    out: list[BatchAnswer] = []
    for start in range(0, len(rows), chunk):
        part = rows[start: start + chunk]
        out += generate_batch(session, [r.prompt_ids for r in part], [r.sampling for r in part],
                              [r.steering for r in part], cancel, _shifted(on_answer, start))
    return out


def _shifted(on_answer: AnswerFn | None, start: int) -> AnswerFn | None:
    """``on_answer`` for a chunk whose first row is row ``start``."""
    if on_answer is None:
        return None
    report = on_answer
    return lambda i, a: report(start + i, a)


def one_at_a_time(session: Session, rows: Sequence[BatchRow], cancel: Callable[[], bool] | None = None,
                  on_answer: AnswerFn | None = None) -> list[BatchAnswer]:
    """The rows answered one after another by ``session.generate`` (the reference a batch is compared with, and the
    way for a model that runs elsewhere)."""
    out: list[BatchAnswer] = []
    for i, r in enumerate(rows):
        res = session.generate("", r.sampling, r.steering, prompt_ids=r.prompt_ids, cancel=cancel)
        out.append(BatchAnswer(res.prompt_ids, res.answer_ids, res.text, res.stop_reason))
        if on_answer is not None:
            on_answer(i, out[-1])
    return out
