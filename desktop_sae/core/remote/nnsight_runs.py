"""The nnsight traces: one generation, one forward up to the hook. Where they run is the ``Target``'s transport:
this process, nnsight's local simulation of a remote run (the request is serialised and read back as NDIF's server
would), or NDIF."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .model_side import SHIPPED_MODULES, ModelSideStep, StepOrders
from .target import Target, Transport


@dataclass(frozen=True)
class RunRecord:
    """What came back from one generation (see ``ModelSideStep``)."""

    residuals: tuple[torch.Tensor, ...]  # [T, d] per forward: the prompt, then one per token
    tokens: tuple[int, ...]
    alternative_ids: tuple[list[int], ...]
    alternative_probs: tuple[list[float], ...]
    probs: tuple[float, ...]


class ModelRun:
    """An nnsight model (``TransformersModel``) and where its traces run."""

    def __init__(self, model: Any, target: Target) -> None:  # Any: nnsight's TransformersModel (optional package)
        self.model = model
        self.target = target

    @property
    def module(self) -> torch.nn.Module:
        """The torch model nnsight wraps (for NDIF: its structure on the meta device, no weights)."""
        module: torch.nn.Module = self.model._module
        return module

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def _envoy(self, dotted: str) -> Any:
        env = self.model
        for part in dotted.split(".") if dotted else []:
            env = env[int(part)] if part.isdigit() else getattr(env, part)
        return env

    def _head(self) -> Any:
        head = self.model._module.get_output_embeddings()
        for name, m in self.module.named_modules():
            if m is head:
                return self._envoy(name)
        raise AssertionError("the model's output embeddings are not among its modules")

    def _options(self) -> dict[str, Any]:
        from .ndif_link import backend_for

        if self.target.transport is Transport.SIMULATED:
            return {"remote": "local"}
        if self.target.transport is Transport.NDIF:
            return {"backend": backend_for(self.model, self.target)}
        return {}

    def generate(self, ids: Sequence[int], orders: StepOrders, hook_name: str | None) -> RunRecord:
        """Generate after ``ids`` as ``orders`` say, the steering applied at ``hook_name``."""
        import nnsight

        from .nnsight_session import hook_site

        site_name, reads_input = hook_site(self.module, hook_name) if hook_name else ("", False)
        site = self._envoy(site_name) if hook_name else None
        head = self._head()
        budget = orders.sampling.max_new_tokens + 1  # the last token's forward gives its readout
        inputs = torch.tensor([list(ids)])
        options = self._options()
        with _shipped(), self._errors():
            with self.model.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=budget,
                                     do_sample=False, eos_token_id=None, pad_token_id=0, **options) as tracer:
                step = ModelSideStep(orders, reads_hook=site is not None)
                kept = nnsight.save((step.residuals, step.tokens, step.alternative_ids, step.alternative_probs,
                                     step.probs))
                for _ in tracer.iter[:budget]:
                    if site is not None and reads_input:
                        new = step.at_hook(site.input)
                        if new is not None:
                            site.input = new
                    elif site is not None:
                        new = step.at_hook(site.output)
                        if new is not None:
                            site.output = new
                    if step.done:
                        tracer.stop()
                    head.output = step.at_logits(head.output)
        residuals, tokens, alt_ids, alt_probs, probs = kept
        return RunRecord(tuple(residuals), tuple(tokens), tuple(alt_ids), tuple(alt_probs), tuple(probs))

    def residuals(self, ids: Sequence[int], hook_name: str) -> torch.Tensor:
        """The residual at ``hook_name`` for ``ids`` [T, d] (no steering); the layers after it do not run."""
        import nnsight

        from .nnsight_session import hook_site

        site_name, reads_input = hook_site(self.module, hook_name)
        site = self._envoy(site_name)
        options = self._options()
        with _shipped(), self._errors():
            with self.model.trace(torch.tensor([list(ids)]), **options) as tracer:
                x = nnsight.save((site.input if reads_input else site.output)[0].detach().cpu())
                tracer.stop()
        out: torch.Tensor = x
        return out

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        from .ndif_link import translated_errors

        with translated_errors(self.target):
            yield


@contextlib.contextmanager
def _shipped() -> Iterator[None]:
    """Pickle the model side's modules by value for the length of a trace (the server does not have them)."""
    import importlib

    from cloudpickle import register_pickle_by_value, unregister_pickle_by_value

    mods = [importlib.import_module(m) for m in SHIPPED_MODULES]
    for m in mods:
        register_pickle_by_value(m)
    try:
        yield
    finally:
        for m in mods:
            unregister_pickle_by_value(m)
