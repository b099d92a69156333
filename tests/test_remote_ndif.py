"""Opening a model on NDIF fails with a message at once: without a key (no network call), with nothing listening at
the host, with a server that answers something other than NDIF's JSON, and when NDIF does not run the model."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from desktop_sae.core.remote.ndif_link import open_ndif, probe_ndif
from desktop_sae.core.remote.target import Target, Transport
from desktop_sae.core.support.errors import RemoteModelError

MODEL = "meta-llama/Llama-3.1-8B"


class _Server:
    """A 127.0.0.1 server that answers every GET with ``body``."""

    def __init__(self, body: bytes, status: int = 200):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def serve():
    servers = []

    def start(body: bytes, status: int = 200) -> str:
        servers.append(_Server(body, status))
        return servers[-1].url

    yield start
    for s in servers:
        s.close()


def _target(host: str, key: str = "a-key") -> Target:
    return Target(MODEL, Transport.NDIF, host, key)


def test_no_key_is_reported_before_any_network_call(monkeypatch):
    import httpx

    def no_network(*a, **kw):
        raise AssertionError("the key is checked before the network")

    monkeypatch.setattr(httpx, "get", no_network)
    t0 = time.perf_counter()
    with pytest.raises(RemoteModelError, match="NDIF needs an API key: get one at https://login.ndif.us"):
        open_ndif(_target("https://api.ndif.us", key="  "))
    assert time.perf_counter() - t0 < 1.0


def test_a_closed_port_is_reported_quickly():
    with socket.socket() as s:  # a port nothing listens on once this socket closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    with pytest.raises(RemoteModelError, match=rf"cannot reach NDIF at http://127.0.0.1:{port}: .*Check the network"):
        open_ndif(_target(f"http://127.0.0.1:{port}"))
    assert time.perf_counter() - t0 < 5.0


def test_a_server_answering_garbage_is_not_taken_for_ndif(serve):
    url = serve(b"hello, this is not json")
    with pytest.raises(RemoteModelError, match="does not answer like NDIF"):
        open_ndif(_target(url))
    with pytest.raises(RemoteModelError, match="answered HTTP 503"):
        open_ndif(_target(serve(b"{}", status=503)))


def test_a_model_ndif_does_not_run_is_named_with_those_it_runs(serve):
    status = {"deployments": {
        "a": {"repo_id": "openai-community/gpt2", "deployment_level": "HOT"},
        "b": {"repo_id": MODEL, "deployment_level": "COLD"},
    }}
    url = serve(json.dumps(status).encode())
    with pytest.raises(RemoteModelError, match=rf"NDIF does not run {MODEL} now; it runs: openai-community/gpt2$"):
        open_ndif(_target(url))
    status["deployments"]["b"]["deployment_level"] = "WARM"
    assert probe_ndif(_target(serve(json.dumps(status).encode()))) == [MODEL, "openai-community/gpt2"]


def test_the_key_is_not_in_the_target_s_repr():
    assert "secret-key" not in repr(_target("https://api.ndif.us", key="secret-key"))
