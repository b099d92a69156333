"""A fake OpenAI-compatible chat server on 127.0.0.1 (random port, a daemon thread) for the explanation tests.

It answers the explainer with the marked tokens it was shown (``Explanation: the tokens "a" or "b"``), and the
scorers by looking for those quoted keywords: detection says 1 when an example contains one, fuzzing says 1 when
every highlighted span contains one. ``mode`` makes it misbehave: "garbage" (a malformed answer), "500" (HTTP
500), "hang" (sleeps ``hang_s`` before answering), "not_json" (a body that is not a chat completion)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKED = re.compile(r"<<(.+?)>>\((\d+)\)")
SPAN = re.compile(r"<<(.+?)>>")
QUOTED = re.compile(r'"([^"]+)"')
EXAMPLE = re.compile(r"^Example \d+: (.*)$", re.MULTILINE)
FEATURE = re.compile(r"^Feature (\d+)\.", re.MULTILINE)


def explain(user: str) -> str:
    levels: Counter[str] = Counter()
    for tok, level in MARKED.findall(user.split("Output tokens")[0]):
        if tok.strip():
            levels[tok.strip()] += int(level)
    words = [w for w, _ in levels.most_common(2)]
    if not words:
        return "Explanation: no clear pattern"
    return "Explanation: the tokens " + " or ".join(f'"{w}"' for w in words)


def score(system: str, user: str) -> str:
    head, _, body = user.partition("Examples:")
    keys = QUOTED.findall(head)
    out = []
    for text in EXAMPLE.findall(body):
        if system.startswith("You check highlights"):
            spans = SPAN.findall(text)
            out.append(int(bool(spans) and all(any(k in s for k in keys) for s in spans)))
        else:
            out.append(int(any(k in text for k in keys)))
    return json.dumps(out)


class FakeLLM:
    def __init__(self) -> None:
        self.mode = "ok"
        self.hang_s = 2.0
        self.requests = 0
        self.explained: Counter[int] = Counter()  # explainer requests answered well, per feature
        self.lock = threading.Lock()
        self.auth: list[str] = []
        self.on_explain = None  # called with the count of explainer answers so far (e.g. to send a Ctrl-C)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, messages: list[dict[str, str]]) -> str:
        system, user = messages[0]["content"], messages[-1]["content"]
        if system.startswith("You explain"):
            m = FEATURE.search(user)
            with self.lock:
                self.explained[int(m.group(1)) if m else -1] += 1
                n = sum(self.explained.values())
            if self.on_explain is not None:
                self.on_explain(n)
            return explain(user)
        return score(system, user)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests += 1
                    fake.auth.append(self.headers.get("Authorization", ""))
                mode = fake.mode
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                if mode == "500":
                    self.send_error(500)
                    return
                if mode == "hang":
                    time.sleep(fake.hang_s)
                content = "I am not sure, maybe?" if mode == "garbage" else fake.answer(body["messages"])
                payload = {"choices": [{"message": {"role": "assistant", "content": content}}]}
                raw = b"<html>busy</html>" if mode == "not_json" else json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler
