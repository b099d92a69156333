"""Turn huggingface_hub / HTTP failures into one clear ``AssetError`` each (``.unreachable`` is True when the hub
could not be reached at all, so a cached copy may be used instead)."""

from __future__ import annotations

from collections.abc import Iterator

from ..support.errors import AssetError, DesktopSAEError
from ..support.hf_cache import endpoint

_NETWORK_NAMES = ("ConnectError", "ConnectTimeout", "ReadTimeout", "TimeoutException", "NetworkError",
                  "ConnectionError", "OfflineModeIsEnabled", "RemoteProtocolError", "ProxyError")


def _chain(e: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def is_network_error(e: BaseException) -> bool:
    return any(isinstance(x, (ConnectionError, TimeoutError)) or type(x).__name__ in _NETWORK_NAMES
               for x in _chain(e))


def hub_error(e: BaseException, repo_id: str, revision: str = "main", filename: str | None = None) -> Exception:
    """The message a user gets for ``e`` while fetching ``repo_id`` (our own errors pass through)."""
    if isinstance(e, DesktopSAEError):
        return e
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    what = f"{repo_id}/{filename}" if filename else repo_id
    if isinstance(e, GatedRepoError):
        return AssetError(f"{repo_id} is gated: accept its licence on the hub's page and log in (hf auth login), "
                          f"then download again")
    if isinstance(e, RepositoryNotFoundError):
        return AssetError(f"no repository {repo_id!r} on the hub at {endpoint()} (check the name; a private "
                          f"repository needs a login: hf auth login)")
    if isinstance(e, RevisionNotFoundError):
        return AssetError(f"{repo_id} has no revision {revision!r}")
    if isinstance(e, RemoteEntryNotFoundError):
        return AssetError(f"{what} is not on the hub (it may have been removed since the repo was listed)")
    if is_network_error(e):
        err = AssetError(f"the Hugging Face hub at {endpoint()} cannot be reached ({type(e).__name__}), so {what} "
                         f"cannot be downloaded. Check the connection (or HF_ENDPOINT), or import a local copy instead "
                         f"(desktop-sae import PATH).")
        err.unreachable = True
        return err
    if isinstance(e, HfHubHTTPError):
        status = getattr(getattr(e, "response", None), "status_code", "?")
        return AssetError(f"the hub answered HTTP {status} for {what}: {str(e).splitlines()[0][:200]}")
    if isinstance(e, OSError) and "space" in str(e).lower():
        return AssetError(f"not enough disk space for {what}: {e}")
    return AssetError(f"downloading {what} failed: {type(e).__name__}: {str(e)[:300]}")
