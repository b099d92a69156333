"""NDIF: the request backend with the user's key and host, and nnsight's failures as messages."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .nnsight_runs import Target


def backend_for(model: Any, target: Target) -> Any:
    from nnsight.intervention.backends.remote import RemoteBackend

    return RemoteBackend(model.to_model_key(), host=target.host, api_key=target.api_key,
                         env=model._remoteable_get_env(), blocking=True)


@contextlib.contextmanager
def translated_errors(target: Target) -> Iterator[None]:
    yield
