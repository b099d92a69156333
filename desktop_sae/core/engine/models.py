"""Find and load causal language models: the bundled SmolLM2 GGUF, a GGUF path, a local HF folder or a hub id.

A GGUF is dequantised by transformers once and cached as an ordinary HF folder (safetensors + config +
tokenizer) under the user cache dir, keyed by the GGUF's SHA-256, so later starts load in about a second
(the cache's folder and integrity rules: ``model_cache.py``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..support.atomic import atomic_dir
from ..support.errors import Cancelled, ModelLoadError
from ..support.hf_cache import cached_snapshot, display_name
from .device import dtype_name, parse_dtype, pick_device
from .hooks import layout_of, n_layers
from .model_cache import (
    BUNDLED_NAME,
    bundled_gguf_path,
    cache_folder,
    cache_problem,
    file_sha256,
    write_marker,
)

QUANTISED_WEIGHTS = ("int8", "int4")  # load_model's dtypes that quantise the decoder weights (lite engine, CPU)
Progress = Callable[[float | None, str], None]  # (fraction 0..1 or None if unknown, message)


@dataclass(frozen=True)
class ModelDescription:
    """What the app and the CLI show of a loaded model."""

    name: str
    source: str  # 'bundled' | 'gguf' | 'folder' | 'hub'
    location: str
    architecture: str
    layers: int
    width: int
    vocab_size: int
    parameters: int
    device: str
    dtype: str
    sha256: str | None
    chat_template: bool


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    name: str
    source: str  # 'bundled' | 'gguf' | 'folder' | 'hub'
    location: str
    device: torch.device
    dtype: torch.dtype
    sha256: str | None = None
    load_seconds: float = 0.0
    cache_hit: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return n_layers(self.model)

    @property
    def d_model(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "hidden_size", None) or cfg.n_embd)

    @property
    def family(self) -> str:
        return layout_of(self.model).family

    def describe(self) -> ModelDescription:
        return ModelDescription(
            name=self.name,
            source=self.source,
            location=self.location,
            architecture=getattr(self.model.config, "model_type", "?"),
            layers=self.n_layers,
            width=self.d_model,
            vocab_size=int(self.model.config.vocab_size),
            parameters=sum(p.numel() for p in self.model.parameters()),
            device=str(self.device),
            dtype=dtype_name(self.dtype) + (f" with {w} weights" if (w := self.extra.get("weights")) else ""),
            sha256=self.sha256,
            chat_template=bool(getattr(self.tokenizer, "chat_template", None)),
        )


# --- locating ----------------------------------------------------------------------------------------
def classify(spec: str | None) -> tuple[str, str]:
    """(kind, location) for a model spec: None/'default' -> bundled, *.gguf -> gguf, folder, else hub id."""
    if spec in (None, "", "default", "bundled", BUNDLED_NAME):
        return "bundled", str(bundled_gguf_path())
    p = Path(spec).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise ModelLoadError(f"GGUF file not found: {p}")
        return "gguf", str(p)
    if p.is_dir():
        if not (p / "config.json").exists():
            raise ModelLoadError(f"{p} is not a Hugging Face model folder (no config.json in it)")
        return "folder", str(p)
    if p.exists():
        raise ModelLoadError(f"{p} is neither a model folder nor a .gguf file")
    if spec.startswith((".", "/", "~")) or os.sep in spec.strip("/").replace("/", "", 1):
        raise ModelLoadError(f"model path not found: {p}")
    return "hub", spec


def cached_model_folder(repo_id: str) -> Path:
    """The local Hugging Face cache's copy of a hub model. Loading never downloads: ``assets.opening`` (the CLI's
    ``--model ID``, the app's Open) and File > Models and SAEs fetch a model first."""
    folder = cached_snapshot(repo_id)
    if folder is None or not (folder / "config.json").exists():
        raise ModelLoadError(f"{repo_id} is not in the local Hugging Face cache; download it first (File > Models and "
                             f"SAEs, or desktop-sae assets download --model {repo_id})")
    return folder


# --- loading -----------------------------------------------------------------------------------------
def load_model(
    spec: str | None = None,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    progress: Progress | None = None,
    trust_remote_code: bool = False,
    cancelled: Callable[[], bool] | None = None,
) -> LoadedModel:
    """Load a model for inference. Raises ModelLoadError with a message a user can act on."""
    t0 = time.perf_counter()
    report = progress or (lambda f, m: None)
    dev = pick_device(device)
    # int8 / int4: bfloat16 activations, int8 or 4-bit decoder weights (core/engine/lite/row_setup.py)
    quant = dtype if isinstance(dtype, str) and dtype in QUANTISED_WEIGHTS else None
    if quant and dev.type != "cpu":
        raise ModelLoadError(f"{quant} weights are a CPU option; on a GPU use bfloat16 or float16")
    torch_dtype = dtype if isinstance(dtype, torch.dtype) else parse_dtype("bfloat16" if quant else dtype, dev)
    kind, location = classify(spec)
    sha = None
    cache_hit = None
    if kind in ("bundled", "gguf"):
        report(0.0, f"Hashing {Path(location).name}")
        sha = file_sha256(location)
        folder, cache_hit = _converted_gguf(Path(location), sha, report, cancelled)
        name = BUNDLED_NAME if kind == "bundled" else Path(location).stem
    elif kind == "hub":
        folder = cached_model_folder(location)
        name = location
    else:
        folder, name = Path(location), display_name(location)
    if cancelled and cancelled():
        raise Cancelled("model loading was cancelled")
    report(0.9, f"Loading {name} ({dtype_name(torch_dtype)}, {dev})")
    if kind in ("bundled", "gguf") and torch_dtype != torch.float32:
        assert sha is not None  # hashed above for these kinds
        folder = _dtype_variant(folder, torch_dtype, sha, report)
    model, tok = _from_folder(folder, dev, torch_dtype, trust_remote_code)
    layout_of(model)  # unsupported architectures fail here, with the list of supported ones
    if quant:
        if not hasattr(model, "row_kernel"):
            raise ModelLoadError(f"{quant} weights need the lite engine; {name} loads through transformers")
        from .lite import row_setup

        try:
            row_setup.quantize_int8(model) if quant == "int8" else row_setup.quantize_int4(model)
        except ValueError as e:
            raise ModelLoadError(f"{name}: {e}") from e
    report(1.0, f"Loaded {name}")
    return LoadedModel(
        model=model,
        tokenizer=tok,
        name=name,
        source=kind,
        location=location,
        device=dev,
        dtype=torch_dtype,
        sha256=sha,
        load_seconds=time.perf_counter() - t0,
        cache_hit=cache_hit,
        extra={"weights": quant} if quant else {},
    )


def _quiet_transformers() -> None:
    """Our own progress reporting replaces transformers' tqdm bars."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _from_folder(
    folder: Path, dev: torch.device, dtype: torch.dtype, trust_remote_code: bool, engine: str | None = None
) -> tuple[Any, Any]:
    """Llama-family folders load with the lite engine (core/engine/lite/llama.py, no transformers import) unless
    ``engine`` or DESKTOP_SAE_ENGINE says 'transformers' or remote code is asked for; the rest with transformers."""
    from .lite.choice import engine_choice, load_lite

    if (engine or engine_choice()) != "transformers" and not trust_remote_code:
        lite = load_lite(folder, dev, dtype)
        if lite is not None:
            return lite
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
        model: Any = AutoModelForCausalLM.from_pretrained(  # Any: a transformers model (its stubs mistype .to())
            str(folder), dtype=dtype, trust_remote_code=trust_remote_code, low_cpu_mem_usage=True
        )
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise ModelLoadError(
                f"{folder} needs custom code to load; this stays off unless you opt in (--trust-remote-code)"
            ) from None
        raise ModelLoadError(f"could not load the model in {folder}: {e}") from None
    except (OSError, KeyError, RuntimeError) as e:
        raise ModelLoadError(f"could not load the model in {folder}: {e}") from None
    model.to(dev).eval()
    model.requires_grad_(False)
    return model, tok


def _converted_gguf(gguf: Path, sha: str, report: Progress, cancelled: Callable[[], bool] | None
                    ) -> tuple[Path, bool]:
    """Return a cached HF folder for ``gguf``, converting it (once) if the cache is missing or damaged."""
    folder = cache_folder(gguf, sha)
    if cache_problem(folder, sha) is None:
        return folder, True
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    report(0.05, f"Converting {gguf.name} to a cached model (first start only)")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        if cancelled and cancelled():
            raise Cancelled("model loading was cancelled")
        model: Any = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Cancelled:
        raise
    except Exception as e:  # noqa: BLE001 - transformers' GGUF reader raises many types for a file it cannot read
        raise ModelLoadError(f"could not read the GGUF file {gguf}: {e}") from None
    if cancelled and cancelled():
        raise Cancelled("model loading was cancelled")
    report(0.7, "Writing the model cache")
    # transformers marks GGUF-loaded models as "quantized" although the weights are already dequantised
    # to float32; drop that flag so the folder saves and reloads as an ordinary model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        write_marker(tmp, sha, str(gguf))
    return folder, False


def _dtype_variant(folder: Path, dtype: torch.dtype, sha: str, report: Progress) -> Path:
    """A copy of the cached float32 folder stored in ``dtype``: loading it reads half the bytes and never
    holds the float32 weights in memory (peak RSS of a bf16 start drops by ~0.5 GB)."""
    variant = folder / dtype_name(dtype)
    if cache_problem(variant, sha) is None:
        return variant
    report(0.92, f"Caching a {dtype_name(dtype)} copy (first start only)")
    model, tok = _from_folder(folder, torch.device("cpu"), dtype, False, engine="transformers")
    with atomic_dir(variant) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        write_marker(tmp, sha, str(folder))
    del model
    return variant
