"""Does this SAE fit this model? A report made from their configs alone, before any weights are loaded.

Errors (the pair cannot work): the SAE's input width differs from the model's hidden size; its hook point is not
one this app attaches to, or names a layer the model does not have; the weights cannot fit in the free memory of
a GPU. Warnings (it loads, but check): the SAE says it was trained on another model; the model's architecture is
not one the app knows; the weights may not fit in free RAM. Notes: the dtypes it will run in and the memory it
needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..support.errors import HookPointError
from .metadata import DTYPE_BYTES, ModelMeta, SAEMeta

KNOWN_ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "olmo",
                       "olmo2", "granite", "smollm3", "gpt2", "gpt_neox")
# TransformerLens / SAELens model names and the hub names of the same models
ALIASES = {"gpt2small": "gpt2"}


@dataclass(frozen=True)
class CompatReport:
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[tuple[str, str]]:
        """(level, text) with level 'error' | 'warning' | 'note', errors first."""
        return ([("error", e) for e in self.errors] + [("warning", w) for w in self.warnings]
                + [("note", n) for n in self.notes])

    def text(self) -> str:
        marks = {"error": "✖", "warning": "⚠", "note": "·"}
        head = "This pair can be opened." if self.ok else "This pair cannot be opened:"
        return "\n".join([head] + [f"{marks[lv]} {t}" for lv, t in self.lines()])


def norm_model_name(name: str) -> str:
    base = re.sub(r"[^a-z0-9]", "", (name or "").lower().rstrip("/").split("/")[-1])
    return ALIASES.get(base, base)


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def run_dtype(device: str, dtype: str | None) -> str:
    """The dtype the model will run in: the one asked for, else the device's default (see core.engine.device)."""
    if dtype and dtype != "auto":
        return dtype
    return "float16" if device.startswith("mps") else "bfloat16"


def needed_bytes(model: ModelMeta, sae: SAEMeta | None, dtype: str, disk_bytes: int = 0) -> int:
    """Memory for the weights: the model in ``dtype`` plus the SAE (read in float32, then cast)."""
    per = DTYPE_BYTES.get(dtype, 4)
    model_b = model.n_params * per if model.n_params else disk_bytes
    return int(model_b + (sae.n_params * 4 if sae is not None else 0))


def check_pair(
    model: ModelMeta,
    sae: SAEMeta | None,
    *,
    model_name: str | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    free_bytes: int | None = None,
    disk_bytes: int = 0,
) -> CompatReport:
    """Check ``sae`` against ``model`` (both read from configs). ``free_bytes``: free memory on ``device`` (RAM for
    the CPU, free GPU memory for CUDA), or None when unknown."""
    errors: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    label = model_name or model.name
    if model.architecture and model.architecture not in KNOWN_ARCHITECTURES:
        warnings.append(f"{label} is a {model.architecture!r} model; the app attaches SAEs to Llama-family, GPT-2 and "
                        f"GPT-NeoX models and may not find this one's layers")
    if sae is not None:
        if model.hidden_size is None:
            warnings.append(f"{label}'s config does not give its hidden size, so the SAE's width cannot be checked")
        elif sae.d_in != model.hidden_size:
            errors.append(f"width mismatch: the SAE reads vectors of d_in={sae.d_in}, but {label} has hidden size "
                          f"{model.hidden_size}; this SAE was made for another model")
        if not sae.hook:
            errors.append("the SAE does not say which hook point it reads (no hook_name in its config)")
        for role, hook in (("reads", sae.hook), ("writes", sae.hook_out)):
            if hook:
                _check_hook(role, hook, model, label, errors, warnings)
        if sae.hook_out and sae.d_out is not None and model.hidden_size is not None \
                and sae.d_out != model.hidden_size:
            errors.append(f"width mismatch: the transcoder writes vectors of d_out={sae.d_out}, but {label} has "
                          f"hidden size {model.hidden_size}")
        _names(sae.model_name, model_name or model.name, warnings, notes)
        where = f"read at {sae.hook or '?'}, written at {sae.hook_out}" if sae.hook_out else f"at {sae.hook or '?'}"
        notes.append(f"SAE: {sae.architecture}, {sae.d_in} → {sae.d_sae} features {where}, stored as {sae.dtype}")
    run = run_dtype(device, dtype)
    stored = model.dtype or "?"
    notes.append(f"model: {model.n_layers or '?'} layers, hidden size {model.hidden_size or '?'}, stored as "
                 f"{stored}; runs in {run} on {device}" + (" (the SAE too)" if sae is not None else ""))
    need = needed_bytes(model, sae, run, disk_bytes)
    if free_bytes is not None and need:
        where = "GPU memory" if device.startswith("cuda") else "memory"
        if need > free_bytes:
            msg = f"the weights need about {gib(need)} but only {gib(free_bytes)} of {where} is free"
            if device.startswith("cuda"):
                errors.append(msg + "; choose a smaller model, another dtype, or the CPU")
            else:
                warnings.append(msg + "; loading may fail or swap")
        else:
            notes.append(f"needs about {gib(need)} of {where} ({gib(free_bytes)} free)")
    return CompatReport(tuple(errors), tuple(warnings), tuple(notes))


def _check_hook(role: str, hook: str, model: ModelMeta, label: str, errors: list[str], warnings: list[str]) -> None:
    """A hook the SAE reads or writes: one this app attaches to, at a layer the model has."""
    from ..engine.hooks import SITES, parse_hook_name

    try:
        hp = parse_hook_name(hook)
    except HookPointError as e:
        if "hook_z" in hook:  # the message says what the site is and what to use instead
            errors.append(f"the SAE {role} {hook!r}: {e}")
        else:
            errors.append(f"the SAE {role} {hook!r}, which is not a hook point this app attaches to "
                          f"(blocks.<layer>.<site>, site one of {', '.join(SITES)})")
        return
    if model.n_layers is not None and hp.layer >= model.n_layers:
        errors.append(f"missing layer: the SAE {role} layer {hp.layer} ({hp.name}), but {label} has only "
                      f"{model.n_layers} layers (0..{model.n_layers - 1})")
    elif model.n_layers is None and role == "reads":
        warnings.append(f"{label}'s config does not give its number of layers; layer {hp.layer} is not checked")


def _names(sae_model: str, model: str, warnings: list[str], notes: list[str]) -> None:
    a, b = norm_model_name(sae_model), norm_model_name(model)
    if not a:
        notes.append("the SAE does not say which model it was trained on")
    elif a == b:
        notes.append(f"trained on {sae_model} (this model)")
    elif b.startswith(a):
        warnings.append(f"the SAE was trained on {sae_model!r}, a relative (e.g. the base model) of {model!r}; "
                        f"features usually carry over, but check them")
    else:
        warnings.append(f"the SAE was trained on {sae_model!r}, not on {model!r}: its features may mean nothing here")


def free_memory(device: str | None = None) -> tuple[str, int | None]:
    """(device type, free bytes): free GPU memory on CUDA, available RAM otherwise (None when unknown)."""
    import torch

    from ..engine.device import pick_device

    try:
        dev = pick_device(device)
    except RuntimeError:
        return str(device), None
    if dev.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(dev)
            return "cuda", int(free)
        except RuntimeError:
            return "cuda", None
    try:
        import psutil

        return dev.type, int(psutil.virtual_memory().available)
    except ImportError:  # psutil comes with accelerate; fall back to Linux's own figure
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return dev.type, int(line.split()[1]) * 1024
        except OSError:
            pass
    return dev.type, None
