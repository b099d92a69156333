"""Hub downloads against a loopback fake hub (tests/hub_server.py): model + SAE into the HF cache and the
registry, a cancel in the middle of a file, offline and unreachable hubs, bad repos; the same through the CLI."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import hub_server
from desktop_sae.core.assets import downloads as hd
from desktop_sae.core.assets.registry import list_models, list_saes
from desktop_sae.core.support.errors import AssetError, Cancelled
from hub_server import MODEL_REPO, SAE_PATH, SAE_REPO, free_port

fake_hub, hub_env = hub_server.fake_hub, hub_server.hub_env  # the loopback hub's fixtures

REPO_ROOT = Path(__file__).resolve().parents[1]


def ids(assets):
    return {a.id for a in assets}


def test_download_model_and_sae_then_both_are_listed(hub_env):
    seen = []
    res = hd.download_model(MODEL_REPO, progress=lambda f, m: seen.append((f, m)))
    assert not res.from_cache and res.downloaded_bytes > 100_000
    assert Path(res.path, "config.json").is_file() and res.files[-1] == "config.json"  # the marker comes last
    fractions = [f for f, _ in seen if f is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("model.safetensors (5/6)" in m and "KB of" in m for _, m in seen)  # per-file progress
    sae = hd.download_release_sae(f"tiny-release/{SAE_PATH}")
    assert Path(sae.path).name == SAE_PATH and Path(sae.path, "sae_weights.safetensors").is_file()

    model = next(a for a in list_models() if a.id == f"hub:{MODEL_REPO}")
    assert (model.source, model.format, model.model.hidden_size, model.model.n_layers) == ("cached", "hf", 64, 3)
    assert model.size >= res.downloaded_bytes and model.usable
    entry = next(a for a in list_saes() if a.id == f"hub:{SAE_REPO}/{SAE_PATH}")
    assert (entry.sae.d_in, entry.sae.d_sae, entry.sae.hook) == (64, 256, SAE_PATH)
    assert entry.sae.model_name == "tiny-llama"  # named by the release in the directory

    from desktop_sae.core.engine.models import load_model

    assert load_model(res.path, dtype="float32").name == MODEL_REPO  # a cache snapshot is named by its repo


def test_a_second_download_comes_from_the_cache(hub_env):
    hd.download_sae(SAE_REPO, SAE_PATH)
    hub_env.log.clear()
    again = hd.download_sae(SAE_REPO, SAE_PATH)
    assert again.from_cache and again.downloaded_bytes == 0
    assert [m for m, _ in hub_env.log] == ["GET"] and "/api/models/" in hub_env.log[0][1]  # listing only


def test_cancel_in_the_middle_of_a_file_keeps_nothing(hub_env):
    hub_env.slow["model.safetensors"] = 0.1  # 64 KiB per 0.1 s: the 0.5 MB weights take ~0.8 s
    flag = threading.Event()
    when = {}

    def progress(f, m):
        if "model.safetensors" in m and " of " in m and not flag.is_set():
            when["cancel"] = time.monotonic()
            flag.set()

    with pytest.raises(Cancelled):
        hd.download_model(MODEL_REPO, progress=progress, cancelled=flag.is_set)
    assert time.monotonic() - when["cancel"] < 0.5  # honoured at once, while the file is still streaming
    assert f"hub:{MODEL_REPO}" not in ids(list_models())
    end = time.monotonic() + 5
    while hd.running_downloads() and time.monotonic() < end:
        time.sleep(0.05)
    assert not hd.running_downloads()
    cache = Path(os.environ["HF_HOME"]) / "hub"
    assert not list(cache.rglob("*.incomplete"))
    snap = next(cache.glob("models--tiny-org--tiny-llama/snapshots/*"))
    assert not (snap / "model.safetensors").exists() and not (snap / "config.json").exists()
    assert not (cache / "models--tiny-org--tiny-llama" / "refs" / "main").exists()
    hub_env.slow.clear()
    hd.download_model(MODEL_REPO)  # a later download completes it
    assert f"hub:{MODEL_REPO}" in ids(list_models())


def test_offline_mode_answers_at_once_without_a_request(hub_env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    with pytest.raises(AssetError, match="not in the local Hugging Face cache and offline mode is on"):
        hd.download_model(MODEL_REPO)
    assert time.monotonic() - t0 < 1 and not hub_env.log
    monkeypatch.delenv("HF_HUB_OFFLINE")
    hd.download_sae(SAE_REPO, SAE_PATH)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hd.download_sae(SAE_REPO, SAE_PATH).from_cache  # what is cached stays usable offline


def test_a_hub_that_is_down_is_reported_quickly(hub_env, monkeypatch):
    hd.download_sae(SAE_REPO, SAE_PATH)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(AssetError, match="cannot be reached"):
        hd.download_model(MODEL_REPO)
    assert time.monotonic() - t0 < 3
    assert hd.download_sae(SAE_REPO, SAE_PATH).from_cache  # a cached copy is used instead


def test_a_hub_that_never_answers_times_out(hub_env, monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts connections, never answers
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
    monkeypatch.setattr(hd, "TIMEOUT_S", 1.0)
    t0 = time.monotonic()
    try:
        with pytest.raises(AssetError, match="cannot be reached"):
            hd.download_model(MODEL_REPO)
    finally:
        silent.close()
    assert time.monotonic() - t0 < 4


def test_bad_requests_get_clear_messages(hub_env, monkeypatch):
    with pytest.raises(AssetError, match="no repository 'tiny-org/nope'"):
        hd.download_model("tiny-org/nope")
    with pytest.raises(AssetError, match="has no files under 'nothing'; its folders: blocks.1.hook_resid_post"):
        hd.download_sae(SAE_REPO, "nothing")
    with pytest.raises(AssetError, match="holds no SAE this app reads"):
        hd.download_sae(SAE_REPO, "")  # the repo root holds only a README
    with pytest.raises(AssetError, match="needs config.json and .safetensors"):
        hd.download_model(SAE_REPO)
    with pytest.raises(AssetError, match="release 'tiny-release' has no SAE 'x'"):
        hd.download_release_sae("tiny-release/x")
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    hub_env.log.clear()
    with pytest.raises(AssetError, match="needs 0.00 GB of disk space but only 0.00 GB is free"):
        hd.download_model(MODEL_REPO)
    assert all(m == "GET" and "/api/" in p for m, p in hub_env.log)  # refused before any file


# --- the CLI -----------------------------------------------------------------------------------------------------
def test_cli_download_then_list(hub_env, capsys):
    import json

    from desktop_sae.cli import main

    assert main(["download", MODEL_REPO, "--sae", f"tiny-release/{SAE_PATH}"]) == 0
    out = capsys.readouterr()
    assert f"model {MODEL_REPO}" in out.out and f"sae {SAE_REPO}" in out.out and "MB downloaded" in out.out
    assert "Downloading model.safetensors" in out.err  # the progress line
    assert main(["download", "--repo", SAE_REPO, "--path", f"wide/{SAE_PATH}"]) == 0
    capsys.readouterr()
    assert main(["models", "--json"]) == 0
    models = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    assert models[f"hub:{MODEL_REPO}"]["hidden_size"] == 64
    assert main(["saes"]) == 0
    table = capsys.readouterr().out
    assert f"{SAE_REPO}/wide/{SAE_PATH}" in table and "D_IN" in table.splitlines()[0]
    assert main(["download", "tiny-org/nope"]) == 2
    assert "no repository 'tiny-org/nope'" in capsys.readouterr().err


def test_cli_ctrl_c_cancels_cleanly(hub_env, tmp_path):
    hub_env.slow["model.safetensors"] = 1.0  # ~8 s for the weights: Ctrl-C lands mid-file even on a busy machine
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    # a user's terminal delivers Ctrl-C; a suite started in the background (`cmd &`) ignores SIGINT, and a child
    # would inherit that, so the child starts with the default disposition as it would in a terminal
    proc = subprocess.Popen([sys.executable, "-m", "desktop_sae", "download", MODEL_REPO], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    err = b""
    end = time.monotonic() + 60
    while not re.search(rb"model\.safetensors \(\d+/\d+\): ", err) and time.monotonic() < end:  # file count varies
        err += os.read(proc.stderr.fileno(), 4096)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, rest = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 10  # a sanity bound; cancel latency itself is measured in the core tests
    assert proc.returncode == 130, (out, err + rest)
    assert b"download cancelled" in rest
    assert f"hub:{MODEL_REPO}" not in ids(list_models())
