"""A loopback stand-in for the Hugging Face hub (127.0.0.1, a random port): just the endpoints huggingface_hub
uses to list and download a model repo, with the headers it checks.

- ``GET /api/models/{repo}[/revision/{rev}]`` -> {id, sha, siblings: [{rfilename, size, blobId}]}
- ``HEAD|GET /{repo}/resolve/{rev}/{path}`` -> X-Repo-Commit, ETag (X-Linked-Etag/-Size for big files as on
  the hub's LFS files), Content-Length, and the bytes (slowly, when ``slow`` names the file)
- unknown repo / revision / file -> 404 with the X-Error-Code the hub sends (RepoNotFound, RevisionNotFound,
  EntryNotFound)
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import tiny


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict] = {}  # repo_id -> {"sha": commit, "files": {path: bytes}}
        self.slow: dict[str, float] = {}  # file name suffix -> seconds per 64 KiB chunk
        self.log: list[tuple[str, str]] = []
        self.server: ThreadingHTTPServer | None = None

    # --- content ---------------------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, files: dict[str, bytes]) -> str:
        sha = hashlib.sha1(repo_id.encode() + "|".join(sorted(files)).encode()).hexdigest()
        self.repos[repo_id] = {"sha": sha, "files": dict(files)}
        return sha

    def add_folder(self, repo_id: str, folder: Path, prefix: str = "") -> str:
        files = dict(self.repos.get(repo_id, {}).get("files", {}))
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file():
                files[(prefix + "/" if prefix else "") + p.relative_to(folder).as_posix()] = p.read_bytes()
        return self.add_repo(repo_id, files)

    # --- server ----------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="fake-hub", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):  # quiet
        pass

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _error(self, code: int, error_code: str, commit: str | None = None) -> None:
        data = json.dumps({"error": error_code}).encode()
        self.send_response(code)
        self.send_header("X-Error-Code", error_code)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _repo(self, repo_id: str, rev: str):
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound")
            return None
        if rev not in ("main", repo["sha"]):
            self._error(404, "RevisionNotFound")
            return None
        return repo

    def _serve(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.fake.log.append((self.command, path))
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
        if m:
            repo = self._repo(m.group(1), m.group(2) or "main")
            if repo is not None:
                siblings = [{"rfilename": f, "size": len(b), "blobId": hashlib.sha1(b).hexdigest()}
                            for f, b in sorted(repo["files"].items())]
                info = {"_id": repo["sha"][:24], "id": m.group(1), "modelId": m.group(1), "sha": repo["sha"],
                        "private": False, "tags": [], "siblings": siblings}
                self._send(json.dumps(info).encode(), {"Content-Type": "application/json"}, body)
            return
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if not m:
            self._error(404, "NotFound")
            return
        repo = self._repo(m.group(1), m.group(2))
        if repo is None:
            return
        data = repo["files"].get(m.group(3))
        if data is None:
            self._error(404, "EntryNotFound", repo["sha"])
            return
        etag = hashlib.sha256(data).hexdigest()
        headers = {"X-Repo-Commit": repo["sha"], "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}
        if len(data) > 100_000:  # the hub's LFS files carry these
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        delay = next((s for suffix, s in self.fake.slow.items() if m.group(3).endswith(suffix)), 0.0)
        self._send(data, headers, body, delay)

    def _send(self, data: bytes, headers: dict, body: bool, delay: float = 0.0) -> None:
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")  # a stopped server then refuses at once (no kept-alive socket)
        self.close_connection = True
        self.end_headers()
        if not body:
            return
        try:
            for i in range(0, len(data), 1 << 16):
                if delay:
                    time.sleep(delay)
                self.wfile.write(data[i:i + (1 << 16)])
        except (BrokenPipeError, ConnectionResetError):
            pass


# --- the tiny repos ------------------------------------------------------------------------------------------
MODEL_REPO = "tiny-org/tiny-llama"
SAE_REPO = "tiny-org/tiny-saes"
SAE_PATH = "blocks.1.hook_resid_post"
RELEASE_YAML = f"""
tiny-release:
  repo_id: {SAE_REPO}
  model: tiny-llama
  links:
    model: https://huggingface.co/{MODEL_REPO}
  saes:
    - id: {SAE_PATH}
      path: {SAE_PATH}
    - id: wide
      path: wide/{SAE_PATH}
"""


def build_tiny_repos(root: Path) -> tuple[Path, Path, Path]:
    """A tiny Llama HF folder (config, safetensors, tokenizer), a SAELens SAE that fits it and one that does not."""
    model = root / "tiny-llama"
    tiny.tiny_model("llama").save_pretrained(model)
    tiny.tiny_tokenizer().save_pretrained(model)
    sae = tiny.save_tiny_sae(root / "sae" / SAE_PATH)
    wide = tiny.save_tiny_sae(root / "wide" / SAE_PATH, d_in=32)
    return model, sae, wide


def make_hub(root: Path) -> FakeHub:
    model, sae, wide = build_tiny_repos(root)
    hub = FakeHub()
    hub.add_folder(MODEL_REPO, model)
    files = {f"{SAE_PATH}/{p.name}": p.read_bytes() for p in sae.iterdir() if p.is_file()}
    files.update({f"wide/{SAE_PATH}/{p.name}": p.read_bytes() for p in wide.iterdir() if p.is_file()})
    files["README.md"] = b"tiny SAEs for tests\n"
    hub.add_repo(SAE_REPO, files)
    return hub.start()


# --- fixtures (a test module takes them with ``fake_hub, hub_env = hub_server.fake_hub, hub_server.hub_env``) --
@pytest.fixture(scope="session")
def fake_hub(tmp_path_factory):
    hub = make_hub(tmp_path_factory.mktemp("fake_hub"))
    yield hub
    hub.stop()


@pytest.fixture
def hub_env(fake_hub, tmp_path, monkeypatch):
    """The fake hub as HF_ENDPOINT, an empty HF_HOME, online, a user SAE directory naming the tiny release."""
    from desktop_sae.core.support import paths

    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    (paths.data_dir() / "pretrained_saes.yaml").write_text(RELEASE_YAML)
    fake_hub.slow.clear()
    fake_hub.log.clear()
    yield fake_hub
    fake_hub.slow.clear()
    _wait_for_downloads()


def _wait_for_downloads(timeout: float = 10.0) -> None:
    """Let a cancelled download's helper thread end (it stops at its next chunk) before the next test."""
    from desktop_sae.core.assets.downloads import running_downloads

    end = time.monotonic() + timeout
    while running_downloads() and time.monotonic() < end:
        time.sleep(0.05)
    assert not running_downloads(), "a cancelled download thread did not stop"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
