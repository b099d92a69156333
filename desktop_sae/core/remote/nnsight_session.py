"""A ``Session`` whose model runs through nnsight: in this process, or on NDIF's servers (docs/REMOTE.md).

The tokenizer, the SAE, the steering plan and the feature readout stay here; the model side
(core/remote/model_side.py) gets the plan's residual edits and the few SAE features they read, generates, and sends
back the steered residual at the hook for every position and the numbers of each token's alternatives. The events
and the result are the same objects the local token loop makes (core/engine/generation.py), built once the run ends:
a remote answer arrives whole, not token by token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from ..engine.batch_generation import one_at_a_time
from ..engine.batch_rows import DEFAULT_CHUNK, AnswerFn, BatchAnswer, BatchRow
from ..engine.generation import (
    Alternatives,
    Detokenizer,
    GenerationResult,
    TokenEvent,
    generation_result,
    token_events,
)
from ..engine.hooks import resolve_hook
from ..engine.models import LoadedModel
from ..engine.run_names import Run
from ..engine.sae_tap import SAETap
from ..engine.sampling import SamplingConfig
from ..engine.session import Session
from ..sae.autoencoder import SAE
from ..steering.plan import SteeringPlan
from ..steering.specs import NO_STEERING, SteeringConfig
from ..support.errors import SAEMismatchError
from .nnsight_runs import ModelRun, RunRecord
from .target import Transport
from .wire import step_orders

ALTERNATIVES = 5  # like the local token loop


class NnsightSession(Session):
    """``Session`` for an nnsight model (``ModelRun`` wraps it with the place it runs)."""

    def __init__(self, run: ModelRun, sae: SAE | None = None, hook: str | None = None,
                 top_k_features: int = 10) -> None:
        self.run_on = run
        lm = LoadedModel(model=run.module, tokenizer=run.tokenizer, name=run.target.model_id,
                         source=run.target.transport.value, location=run.target.where,
                         device=torch.device("cpu"), dtype=torch.float32)
        super().__init__(lm, sae, hook, top_k_features)

    @property
    def weights_here(self) -> bool:
        return self.run_on.target.transport is not Transport.NDIF  # on NDIF the structure is here, without weights

    def without_sae(self) -> NnsightSession:
        return NnsightSession(self.run_on, top_k_features=self.top_k_features)

    # --- the residual at the hook, for the readout of a text ---------------------------------------------------------
    def activations(self, ids: Sequence[int], hook: str | None = None) -> torch.Tensor:
        hook = hook or self.hook_name
        assert hook is not None  # set with the SAE; callers check for one first
        return self.run_on.residuals(ids, hook).to(torch.float32)

    def attach_sae(self, sae: SAE, hook: str | None = None) -> list[str]:
        """As the local session, but one hook only: the model side reads and steers the same residual."""
        if sae.input_hook != sae.output_hook:
            raise SAEMismatchError(
                f"a transcoder (reads {sae.input_hook}, writes {sae.output_hook}) cannot run through nnsight yet: "
                "the remote model side steers at the hook it reads; open it on a local model"
            )
        return super().attach_sae(sae, hook)

    # --- generation --------------------------------------------------------------------------------------------------
    def generate(
        self,
        prompt: str | Sequence[dict],
        sampling: SamplingConfig = SamplingConfig(),
        steering: SteeringConfig = NO_STEERING,
        *,
        system: str | None = None,
        chat: bool = True,
        prompt_ids: Sequence[int] | None = None,
        watch: Sequence[int] = (),
        on_token: Callable[[TokenEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        run: Run = Run.MAIN,
    ) -> GenerationResult:
        t0 = time.perf_counter()
        ids = list(prompt_ids) if prompt_ids is not None else self.prompt_ids(prompt, system, chat)
        plan = self.plan(steering)
        tok = self.lm.tokenizer
        if cancel is not None and cancel():
            return generation_result(tok, ids, [], [], "cancelled", t0, run)
        orders = step_orders(ids, sampling, len(tok), plan, self.sae, self.special_ids, self.stop_ids,
                             steering.skip_special, ALTERNATIVES)
        record = self.run_on.generate(ids, orders, self.hook_name)
        if cancel is not None and cancel():
            return generation_result(tok, ids, [], [], "cancelled", t0, run)
        return self._result(ids, record, plan, watch, on_token, run, t0)

    def generate_rows(self, rows: Sequence[BatchRow], *, chunk: int = DEFAULT_CHUNK,
                      cancel: Callable[[], bool] | None = None, on_answer: AnswerFn | None = None) -> list[BatchAnswer]:
        """One answer at a time: each is its own nnsight run."""
        return one_at_a_time(self, rows, cancel, on_answer)

    def _result(self, ids: list[int], record: RunRecord, plan: SteeringPlan, watch: Sequence[int],
                on_token: Callable[[TokenEvent], None] | None, run: Run, t0: float) -> GenerationResult:
        """The events of a finished run, the SAE readout of each kept residual computed here (none without an SAE)."""
        tok = self.lm.tokenizer
        special = set(self.special_ids)
        detok = Detokenizer(tok)
        alts = Alternatives(ALTERNATIVES, len(tok), detok.piece)
        tap = SAETap(self.sae, SteeringPlan(), watch, self.top_k_features) if record.residuals else None
        events: list[TokenEvent] = []
        emit = on_token or (lambda e: None)
        answer = list(record.tokens)
        for step in range(len(answer) + 1):
            rec = None
            if tap is not None:
                tap(record.residuals[step][None].to(self.lm.dtype))
                rec = tap.last
            if step == 0:
                specials = [i in special for i in ids]
                texts = [detok.piece(i) for i in ids]
                out = token_events(rec, ids, 0, texts, [""] * len(ids), True, specials, run)
            else:
                j, tid = step - 1, answer[step - 1]
                alt = (alts.named(record.alternative_ids[j], record.alternative_probs[j]), record.probs[j])
                delta = detok.push(tid, tid in special, step == len(answer))
                out = token_events(rec, [tid], len(ids) + j, [detok.piece(tid)], [delta], False, [tid in special],
                                   run, alt)
            for e in out:
                events.append(e)
                emit(e)
        reason = "eos" if answer and answer[-1] in set(self.stop_ids) else "max_tokens"
        return generation_result(tok, ids, answer, events, reason, t0, run)


def hook_site(module: torch.nn.Module, hook_name: str) -> tuple[str, bool]:
    """(the dotted name of the module the hook sits on, whether it reads the module's input rather than output)."""
    target, kind = resolve_hook(module, hook_name)
    for name, m in module.named_modules():
        if m is target:
            return name, kind == "pre"
    raise AssertionError(f"{hook_name} resolved to a module outside the model")  # resolve_hook walks the model
