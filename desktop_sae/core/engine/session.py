"""A model + an SAE at its hook point: the one object the CLI, the GUI worker and the tests drive."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from ..sae.autoencoder import SAE
from ..steering.plan import SteeringPlan, plan_steering
from ..steering.specs import NO_STEERING, SteeringConfig
from ..support.errors import HookPointError, SAEMismatchError
from .batch_generation import generate_rows
from .batch_rows import DEFAULT_CHUNK, AnswerFn, BatchAnswer, BatchRow
from .chat_prompt import chat_prompt_ids, text_ids
from .generation import GenerationResult, TokenEvent, generate_tokens
from .hooks import capture, parse_hook_name, resolve_hook
from .models import LoadedModel
from .run_names import Run
from .sae_tap import SAETap
from .sampling import SamplingConfig

REFERENCE_TEXT = (
    "The city council met on Tuesday to discuss the new library. Several residents asked about parking, "
    "while others wanted longer opening hours. In the end, the plan was approved with a small change to the budget."
)


def _norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().split("/")[-1])


class Session:
    def __init__(self, lm: LoadedModel, sae: SAE | None = None, hook: str | None = None,
                 top_k_features: int = 10) -> None:
        self.lm = lm
        self.sae: SAE | None = None
        self.hook_name: str | None = None  # where the SAE reads
        self.steer_hook_name: str | None = None  # where it writes and steering goes (another hook for a transcoder)
        self.warnings: list[str] = []
        self.top_k_features = top_k_features
        self._typical_norm: float | None = None
        tok = lm.tokenizer
        self.special_ids = tuple(sorted(set(int(i) for i in (tok.all_special_ids or []))))
        self.stop_ids = self._stop_ids()
        if sae is not None:
            self.attach_sae(sae, hook)

    # --- setup -------------------------------------------------------------------------------------
    def without_sae(self) -> Session:
        """A new session of the same class on the same model, with no SAE yet (another SAE goes on it; this one
        stays in use until that one is attached)."""
        return Session(self.lm, top_k_features=self.top_k_features)

    @property
    def weights_here(self) -> bool:
        """Whether the model's weights are in this process (tools that read them directly need them)."""
        return True

    def _stop_ids(self) -> tuple[int, ...]:
        ids = set()
        eos = self.lm.tokenizer.eos_token_id
        if eos is not None:
            ids.add(int(eos))
        gen_eos = getattr(getattr(self.lm.model, "generation_config", None), "eos_token_id", None)
        if isinstance(gen_eos, int):
            ids.add(gen_eos)
        elif gen_eos:
            ids.update(int(i) for i in gen_eos)
        return tuple(sorted(ids))

    def attach_sae(self, sae: SAE, hook: str | None = None) -> list[str]:
        """Check that ``sae`` fits this model, move it to the model's device/dtype and use it.
        Returns warnings (e.g. trained on another model); raises SAEMismatchError on a hard mismatch."""
        hook = hook or sae.input_hook
        if not hook:
            raise SAEMismatchError("the SAE does not say which hook point it was trained at; give one (--hook)")
        writes_elsewhere = sae.output_hook != sae.input_hook
        if writes_elsewhere and hook != sae.input_hook:
            raise SAEMismatchError(f"this transcoder reads at {sae.input_hook} and writes at "
                                   f"{sae.output_hook or '(no hook named)'}; it cannot be moved to {hook}")
        out_hook = sae.output_hook if writes_elsewhere else hook
        try:
            hp, hp_out = parse_hook_name(hook), parse_hook_name(out_hook)
            resolve_hook(self.lm.model, hp)
            resolve_hook(self.lm.model, hp_out)
        except HookPointError as e:
            raise SAEMismatchError(f"the SAE does not fit {self.lm.name}: {e}") from None
        for what, width, at in (("input width d_in", sae.cfg.d_in, hook), ("output width", sae.output_width, out_hook)):
            if width != self.lm.d_model:
                raise SAEMismatchError(f"the SAE's {what}={width} does not match {self.lm.name}'s residual width "
                                       f"{self.lm.d_model} at {at}")
        warnings = []
        if sae.cfg.model_name and _norm_name(sae.cfg.model_name) != _norm_name(self.lm.name):
            warnings.append(f"this SAE was trained on {sae.cfg.model_name!r}, the loaded model is {self.lm.name!r}")
        sha = sae.cfg.metadata.get("model_sha256")
        if sha and self.lm.sha256 and sha != self.lm.sha256:
            warnings.append("this SAE was trained on a different file of this model (SHA-256 differs)")
        self.sae = sae.to(device=self.lm.device, dtype=self.lm.dtype).eval().requires_grad_(False)
        # the kernel measured for the model; beside 4-bit weights, the encoder in 8-bit groups on the int4 kernel
        model = self.lm.model
        self.sae.use_row_kernel("int4" if getattr(model, "weights_int4", False) else getattr(model, "row_kernel", None))
        self.hook_name, self.steer_hook_name = hp.name, hp_out.name
        self.warnings = warnings
        tn = None if writes_elsewhere else sae.cfg.metadata.get("typical_norm")  # (a norm at the input hook)
        self._typical_norm = float(tn) if tn else None
        return warnings

    @property
    def typical_norm(self) -> float | None:
        """Mean L2 norm at the hook steering writes to, over ordinary (non-special) tokens of a reference text."""
        if self._typical_norm is None and self.steer_hook_name:
            ids = text_ids(self.lm.tokenizer, REFERENCE_TEXT)
            x = self.activations(ids, self.steer_hook_name)
            keep = [i for i, t in enumerate(ids) if t not in self.special_ids]
            self._typical_norm = float(x[keep].float().norm(dim=-1).mean())
        return self._typical_norm

    # --- prompts -----------------------------------------------------------------------------------
    def prompt_ids(self, prompt: str | Sequence[dict], system: str | None = None, chat: bool = True) -> list[int]:
        if not chat:
            text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
            return text_ids(self.lm.tokenizer, text)
        return chat_prompt_ids(self.lm.tokenizer, prompt, system)

    # --- steering ----------------------------------------------------------------------------------
    def plan(self, steering: SteeringConfig) -> SteeringPlan:
        """Validated steering plan (raises SteeringError; nothing is applied on error)."""
        tn = self.typical_norm if steering.active and self.sae is not None else None
        return plan_steering(steering, self.sae, tn)

    def steering_units(self, steering: SteeringConfig) -> list[dict]:
        return [{"feature": r.spec.feature, "method": r.spec.method, **r.units()} for r in self.plan(steering).resolved]

    # --- generation --------------------------------------------------------------------------------
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
        ids = list(prompt_ids) if prompt_ids is not None else self.prompt_ids(prompt, system, chat)
        plan = self.plan(steering)
        tap = SAETap(self.sae, plan, watch, self.top_k_features) if self.sae is not None else None
        return generate_tokens(
            self.lm.model,
            self.lm.tokenizer,
            ids,
            sampling,
            tap=tap,
            hook_name=self.hook_name,
            steer_hook=self.steer_hook_name,
            stop_ids=self.stop_ids,
            special_ids=self.special_ids,
            skip_special=steering.skip_special,
            on_token=on_token,
            cancel=cancel,
            run=run,
        )

    def generate_rows(self, rows: Sequence[BatchRow], *, chunk: int = DEFAULT_CHUNK,
                      cancel: Callable[[], bool] | None = None, on_answer: AnswerFn | None = None) -> list[BatchAnswer]:
        """An answer per row (its prompt ids, sampling and steering), ``chunk`` rows per batch: each row as
        ``generate`` makes it, without per-token readouts (core/engine/batch_generation.py); ``on_answer(i, answer)``
        as row ``i`` ends (it must not run the model: the batch's steering is installed)."""
        return generate_rows(self, rows, chunk, cancel, on_answer)

    def compare(self, prompt: str | Sequence[dict], sampling: SamplingConfig, steering: SteeringConfig,
                **kw: Any) -> tuple[GenerationResult, GenerationResult]:
        """Steered vs default: same prompt, same seed, same sampling stream, two runs."""
        if sampling.seed is None:
            sampling = replace(sampling, seed=int(torch.randint(0, 2**31 - 1, ()).item()))
        steered = self.generate(prompt, sampling, steering, run=Run.STEERED, **kw)
        default = self.generate(prompt, sampling, NO_STEERING, run=Run.DEFAULT, **kw)
        return steered, default

    # --- analysis ----------------------------------------------------------------------------------
    @torch.inference_mode()
    def activations(self, ids: Sequence[int], hook: str | None = None) -> torch.Tensor:
        """Activations at the SAE's input hook (or ``hook``) for ``ids`` ([T, d]); layers after it are skipped."""
        ids_t = torch.tensor([list(ids)], device=self.lm.device)
        hook = hook or self.hook_name
        assert hook is not None  # set with the SAE; callers check for one first
        x = capture(self.lm.model, hook, stop=True, input_ids=ids_t)
        return x[0]

    @torch.inference_mode()
    def encode_text(self, text: str, chat: bool = False) -> tuple[list[str], list[int], np.ndarray]:
        """(token strings, ids, SAE activations [T, d_sae] float32) for a text, no steering."""
        if self.sae is None:
            raise SAEMismatchError("no SAE is loaded")
        ids = self.prompt_ids(text, chat=chat)
        acts = self.sae.encode(self.activations(ids)).float().cpu().numpy()
        tok = self.lm.tokenizer
        return [tok.decode([i]) for i in ids], ids, acts

    def describe(self) -> dict[str, Any]:
        """The model, the SAE (at the hook it is attached to) and the warnings, as JSON-ready data."""
        return {
            "model": asdict(self.lm.describe()),
            "sae": None if self.sae is None else asdict(replace(self.sae.describe(), hook=self.hook_name or "")),
            "warnings": list(self.warnings),
        }


