"""Open a model and an SAE by name, as the CLI and the app both do: the bundled pair, a GGUF file, a model folder
or a hub id (downloaded into the Hugging Face cache first, with progress), and an SAE folder or file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..engine.session import Session
from ..support.errors import AssetError, ModelLoadError

Progress = Callable[[float | None, str], None]


def open_session(
    model: str | None = None,
    sae: str | None = None,
    hook: str | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    top_k_features: int = 10,
) -> Session:
    """Load a model and its SAE the way the CLI and the app both do: ``sae`` is a path, 'none', or None for the
    bundled SAE (only with the bundled model, since it fits no other)."""
    from ..engine.models import classify, load_model
    from ..sae.formats import load_sae
    from ..support.paths import default_sae_dir

    if model is not None and classify(model)[0] == "hub":
        fetch_model(model, progress, cancelled)
    lm = load_model(model, device=device, dtype=dtype, progress=progress, trust_remote_code=trust_remote_code,
                    cancelled=cancelled)
    session = Session(lm, top_k_features=top_k_features)
    path: str | Path | None = None
    if sae and sae.lower() != "none":
        path = sae
    elif sae is None and model is None:
        path = default_sae_dir()
    if path is not None:
        if progress:
            progress(None, f"Loading SAE {Path(path).name}")
        session.attach_sae(load_sae(path), hook)
    return session


def fetch_model(repo_id: str, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None) -> Path:
    """Download (or find in the local Hugging Face cache) a hub model's config, tokenizer and safetensors weights;
    its progress fills the first 85 % of opening. A failure becomes a ``ModelLoadError`` a user can act on."""
    from .downloads import download_model

    def scaled(fraction: float | None, message: str) -> None:
        if progress is not None:
            progress(None if fraction is None else 0.85 * fraction, message)

    try:
        return Path(download_model(repo_id, progress=scaled, cancelled=cancelled).path)
    except AssetError as e:
        raise ModelLoadError(str(e)) from None
