"""``desktop-sae generate --nnsight`` and ``--ndif`` on a tiny model folder: the nnsight backend gives the tokens and
features of a Session on the same model (loaded with transformers), and NDIF without a key or a network fails at
once with the message, exit code 2 and no traceback."""

import json
import os
import socket
import time

import numpy as np
import pytest

from desktop_sae.cli import main
from desktop_sae.core.engine.lite.choice import ENGINE_ENV
from desktop_sae.core.engine.models import load_model
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import Session
from desktop_sae.core.sae.formats import load_sae, save_sae
from desktop_sae.core.steering.specs import SteeringConfig
from desktop_sae.core.steering.syntax import parse_steer
from tiny import random_sae, tiny_model, tiny_tokenizer, with_stats

KEY = "ndif-test-key-0123456789"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_remote")
    tiny_model("llama").save_pretrained(root / "model")
    tiny_tokenizer().save_pretrained(root / "model")
    save_sae(with_stats(random_sae(model_name="model")), root / "sae")
    return root


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def transformers_session(files, monkeypatch) -> Session:
    """The same folder through the local Session, loaded with transformers as the nnsight backend loads it."""
    with monkeypatch.context() as m:
        m.setenv(ENGINE_ENV, "transformers")
        lm = load_model(str(files / "model"), device="cpu", dtype="float32")
    return Session(lm, load_sae(files / "sae"))


@pytest.mark.parametrize("sampling", [["--temperature", "0"], ["--temperature", "0.8", "--seed", "7"]],
                         ids=["greedy", "sampled"])
def test_generate_nnsight_gives_the_sessions_tokens_and_features(files, capsys, monkeypatch, sampling):
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    code, out, err = run(capsys, "generate", "--nnsight", "--model", str(files / "model"), "--dtype", "float32",
                         "--sae", str(files / "sae"), "--prompt", "hello", "--steer", "5=2x", "--steer", "7=1:clamp",
                         "--max-tokens", "8",
                         *sampling, "--json")
    assert code == 0, err
    assert ENGINE_ENV not in os.environ  # the transformers engine was chosen for that load only
    got = json.loads(out)
    temperature = float(sampling[1])
    seed = int(sampling[3]) if len(sampling) > 2 else 42
    want = transformers_session(files, monkeypatch).generate(
        "hello", SamplingConfig(temperature=temperature, seed=seed, max_new_tokens=8).validate(),
        SteeringConfig((parse_steer("5=2x"), parse_steer("7=1:clamp"))))
    assert [t["id"] for t in got["tokens"]] == list(want.answer_ids)
    assert got["text"] == want.text
    answer = [e for e in want.events if not e.is_prompt]
    assert len(answer) == len(got["tokens"]) == 8
    for t, e in zip(got["tokens"], answer):
        firing = [(int(i), float(v)) for i, v in zip(e.top_ids, e.top_vals) if v > 0]
        assert [i for i, _ in t["features"]] == [i for i, _ in firing]
        # the CLI prints 4 decimals
        np.testing.assert_allclose([v for _, v in t["features"]], [v for _, v in firing], atol=2e-4)
    assert [s["method"] for s in got["steering"]] == ["add", "clamp"]


def test_generate_ndif_without_a_key_fails_at_once(files, capsys, monkeypatch):
    monkeypatch.delenv("NDIF_API_KEY", raising=False)
    t0 = time.perf_counter()
    code, out, err = run(capsys, "generate", "--ndif", "meta-llama/Llama-3.1-8B", "--sae", str(files / "sae"),
                         "--prompt", "hi")
    assert time.perf_counter() - t0 < 2.0
    assert code == 2 and not out
    assert "NDIF needs an API key: get one at https://login.ndif.us" in err
    assert "Traceback" not in err


def test_generate_ndif_with_no_server_names_the_host_and_hides_the_key(files, capsys, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("NDIF_API_KEY", KEY)
    code, _, err = run(capsys, "generate", "--ndif", "meta-llama/Llama-3.1-8B", "--ndif-host",
                       f"http://127.0.0.1:{port}", "--prompt", "hi")
    assert code == 2
    assert f"cannot reach NDIF at http://127.0.0.1:{port}" in err and "Check the network and the host" in err
    assert KEY not in err
