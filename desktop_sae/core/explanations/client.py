"""An OpenAI-compatible chat client (``POST {url}/v1/chat/completions``; llama.cpp's server, Ollama, vLLM, hosted
APIs) on the standard library, with retries: a refused connection, a timeout, an HTTP error or an answer the
parser rejects is retried with exponential backoff, then reported as ``CallFailedError``."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from ..support.errors import DesktopSAEError
from .answers import MalformedAnswerError

T = TypeVar("T")
ENV_URL, ENV_MODEL, ENV_KEY = "DESKTOP_SAE_LLM_URL", "DESKTOP_SAE_LLM_MODEL", "DESKTOP_SAE_LLM_KEY"


class CallFailedError(DesktopSAEError):
    """A chat call that failed after all its tries; the message says the last reason."""


@dataclass(frozen=True)
class ChatSettings:
    url: str  # the server's base URL, e.g. http://127.0.0.1:8080 (a trailing /v1 is allowed)
    model: str
    key: str = ""
    timeout_s: float = 60.0
    tries: int = 3
    backoff_s: float = 1.0  # wait before the second try; doubled before each further one
    max_tokens: int = 200
    temperature: float = 0.0
    parallel: int = 4  # calls in flight at once (``ask_many``)

    @classmethod
    def from_env(cls, url: str | None = None, model: str | None = None, key: str | None = None,
                 **kw: float | int) -> ChatSettings:
        """Arguments win over ``DESKTOP_SAE_LLM_URL`` / ``_MODEL`` / ``_KEY``; URL and model are required."""
        url = url or os.environ.get(ENV_URL, "")
        model = model or os.environ.get(ENV_MODEL, "")
        if not url or not model:
            raise DesktopSAEError(f"no chat endpoint: give a URL and a model (or set {ENV_URL} and {ENV_MODEL})")
        return cls(url=url, model=model, key=key if key is not None else os.environ.get(ENV_KEY, ""), **kw)  # type: ignore[arg-type]

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")


class ChatClient:
    """``ask(messages, parse)`` returns ``parse(answer text)`` or raises ``CallFailedError``. ``calls`` counts HTTP
    requests made (tries included)."""

    def __init__(self, settings: ChatSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.sleep = sleep
        self.calls = 0
        self._lock = threading.Lock()

    def complete(self, messages: Sequence[dict[str, str]]) -> str:
        """One request; raises ``OSError`` (refused, timed out, HTTP error) or ``MalformedAnswerError`` (not a chat
        completion)."""
        s = self.settings
        body = json.dumps({"model": s.model, "messages": list(messages), "temperature": s.temperature,
                           "max_tokens": s.max_tokens}).encode()
        headers = {"Content-Type": "application/json"}
        if s.key:
            headers["Authorization"] = f"Bearer {s.key}"
        req = urllib.request.Request(s.endpoint, data=body, headers=headers, method="POST")
        with self._lock:
            self.calls += 1
        with urllib.request.urlopen(req, timeout=s.timeout_s) as r:
            raw = r.read()
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise MalformedAnswerError(f"not a chat completion: {raw[:200]!r}") from None
        if not isinstance(content, str):
            raise MalformedAnswerError("the completion has no text content")
        return content

    def ask(self, messages: Sequence[dict[str, str]], parse: Callable[[str], T]) -> T:
        s = self.settings
        last = ""
        for attempt in range(s.tries):
            if attempt:
                self.sleep(s.backoff_s * 2 ** (attempt - 1))
            try:
                return parse(self.complete(messages))
            except MalformedAnswerError as e:
                last = f"malformed answer: {e}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code} from {s.endpoint}"
            except (OSError, TimeoutError) as e:  # URLError, refused, reset, socket timeout
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
        raise CallFailedError(f"{s.tries} tries failed; last: {last}")

    def ask_many(self, jobs: Sequence[tuple[Sequence[dict[str, str]], Callable[[str], T]]]
                 ) -> list[T | CallFailedError]:
        """Several ``ask``s, up to ``parallel`` at once; each result is the parsed answer or its ``CallFailedError``."""

        def one(job: tuple[Sequence[dict[str, str]], Callable[[str], T]]) -> T | CallFailedError:
            try:
                return self.ask(*job)
            except CallFailedError as e:
                return e

        if len(jobs) <= 1 or self.settings.parallel <= 1:
            return [one(j) for j in jobs]
        with ThreadPoolExecutor(max_workers=min(self.settings.parallel, len(jobs))) as pool:
            return list(pool.map(one, jobs))
