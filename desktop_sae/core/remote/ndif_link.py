"""Opening an nnsight model, and reaching NDIF: the key and a short probe before anything slow, the request backend
with the user's key and host, and nnsight's failures turned into messages (docs/REMOTE.md, "When it fails")."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..support.errors import DesktopSAEError, RemoteModelError
from .nnsight_runs import ModelRun
from .target import Target, Transport

PROBE_SECONDS = 4.0  # the probe's connect and read timeouts: a missing network is reported within this
KEY_PAGE = "https://login.ndif.us"
_DEPLOYED = ("HOT", "WARM")  # NDIF's deployment levels of a model that is up (COLD: downloaded, not running)


def import_nnsight() -> Any:
    """nnsight, without the ``.save`` it mounts on every Python object (the backend calls ``nnsight.save``) and
    without its console status display."""
    try:
        import nnsight
    except ImportError:
        raise RemoteModelError("the nnsight backend needs the optional package nnsight: install Desktop SAE with "
                               "its 'remote' extra (pip install 'desktop-sae[remote]')") from None
    from nnsight import CONFIG
    from nnsight._c import unmount

    if unmount is not None and CONFIG.APP.PYMOUNT:
        unmount("save")
        CONFIG.APP.PYMOUNT = False
    CONFIG.APP.REMOTE_LOGGING = False
    return nnsight


def wrap_local(model: Any, tokenizer: Any, target: Target) -> ModelRun:
    """A model already loaded here (a transformers model and its tokenizer), run through nnsight in this process
    (``Transport.IN_PROCESS``) or through the serialisation a remote request goes through (``SIMULATED``)."""
    if target.transport is Transport.NDIF:
        raise ValueError("wrap_local runs a local model; open_ndif opens a model on NDIF")
    import_nnsight()
    from nnsight.modeling.transformers import TransformersModel

    return ModelRun(TransformersModel(model, tokenizer=tokenizer, task="text-generation"), target)


def open_ndif(target: Target) -> ModelRun:
    """The model ``target.model_id`` on NDIF. Fails at once without a key, within ``PROBE_SECONDS`` without a
    network or with a server that does not answer like NDIF, and when NDIF does not run that model. Reads the
    model's config and tokenizer from the Hugging Face hub (no weights: the structure is built on the meta device)."""
    probe_ndif(target)
    import_nnsight()
    from nnsight.modeling.transformers import TransformersModel

    try:
        model = TransformersModel(target.model_id, task="text-generation")
    except DesktopSAEError:
        raise
    except Exception as e:  # noqa: BLE001  (hub and transformers errors: many classes, one message)
        raise RemoteModelError(f"could not read {target.model_id}'s config and tokenizer from the Hugging Face hub: "
                               f"{_reason(e)}") from None
    return ModelRun(model, target)


def probe_ndif(target: Target) -> list[str]:
    """Check the key and the server; return the models NDIF runs now (``target.model_id`` among them)."""
    import httpx

    if not target.api_key.strip():
        raise RemoteModelError(f"NDIF needs an API key: get one at {KEY_PAGE} and enter it in the dialog (it is kept "
                               f"with your settings)")
    host = target.host.rstrip("/")
    if not host.startswith(("http://", "https://")):
        raise RemoteModelError(f"the NDIF host must be an http:// or https:// address, got {host!r}")
    try:
        response = httpx.get(f"{host}/status", timeout=httpx.Timeout(PROBE_SECONDS))
    except httpx.HTTPError as e:
        raise RemoteModelError(target.hide_key(f"cannot reach NDIF at {host}: {_reason(e)}. Check the network and "
                                               f"the host")) from None
    if response.status_code != 200:
        raise RemoteModelError(f"NDIF at {host} answered HTTP {response.status_code} to a status request")
    try:
        data = response.json()
    except ValueError:
        data = None
    deployments = data.get("deployments") if isinstance(data, dict) else None
    if not isinstance(deployments, dict):
        raise RemoteModelError(f"the server at {host} does not answer like NDIF (its status is not NDIF's JSON)")
    running = sorted({str(v.get("repo_id", k)) for k, v in deployments.items()
                      if isinstance(v, dict) and v.get("deployment_level") in _DEPLOYED})
    if target.model_id not in running:
        listed = ", ".join(running[:12]) + (" …" if len(running) > 12 else "") if running else "none"
        raise RemoteModelError(f"NDIF does not run {target.model_id} now; it runs: {listed}")
    return running


def backend_for(model: Any, target: Target) -> Any:
    """nnsight's request backend for ``target`` (its key and host given here, not through nnsight's config)."""
    from nnsight.intervention.backends.remote import RemoteBackend

    return RemoteBackend(model.to_model_key(), host=target.host, api_key=target.api_key,
                         env=model._remoteable_get_env(), blocking=True)


@contextlib.contextmanager
def translated_errors(target: Target) -> Iterator[None]:
    """An NDIF request's failures (the network, the server, the job) as ``RemoteModelError``; a local run's
    errors pass through."""
    if target.transport is not Transport.NDIF:
        yield
        return
    import httpx
    from nnsight.intervention.backends.remote import RemoteError
    from websocket import WebSocketException

    try:
        yield
    except RemoteError as e:
        raise RemoteModelError(target.hide_key(f"NDIF could not run the request: {_reason(e)}")) from None
    except (httpx.HTTPError, WebSocketException, OSError) as e:
        raise RemoteModelError(target.hide_key(f"the connection to NDIF at {target.host} failed: {_reason(e)}")
                               ) from None


def _reason(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text if len(text) <= 300 else text[:300] + " …"
