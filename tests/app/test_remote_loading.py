"""The app's side of the nnsight backend without Qt: the load request keeps the key out of its repr, a model whose
weights stay on NDIF is refused by the jobs that read weights (with the message), and an in-process nnsight model
is not; the transformers engine is chosen for the nnsight load only."""

import os

import pytest

import tiny
from desktop_sae.app.loading import (
    LoadRequest,
    NotReadyError,
    transformers_engine,
    with_sae,
    with_weights,
)
from desktop_sae.core.engine.lite.choice import ENGINE_ENV
from desktop_sae.core.remote.ndif_link import wrap_local
from desktop_sae.core.remote.nnsight_runs import ModelRun
from desktop_sae.core.remote.nnsight_session import NnsightSession
from desktop_sae.core.remote.target import DEFAULT_HOST, Target, Transport

KEY = "ndif-test-key-0123456789"


def nnsight_session(transport: Transport) -> NnsightSession:
    lm = tiny.tiny_lm()
    local = wrap_local(lm.model, lm.tokenizer, Target("tiny", Transport.IN_PROCESS))
    run = ModelRun(local.model, Target("tiny", transport, DEFAULT_HOST, KEY))  # no request is made here
    return NnsightSession(run, tiny.with_stats(tiny.random_sae()))


def test_the_load_request_keeps_the_key_out_of_its_repr():
    req = LoadRequest(sae="none", remote=Target("meta-llama/Llama-3.1-8B", Transport.NDIF, DEFAULT_HOST, KEY))
    assert KEY not in repr(req) and "meta-llama/Llama-3.1-8B" in repr(req)
    assert Target("m", Transport.NDIF, DEFAULT_HOST, KEY).hide_key(f"failed with key {KEY}") == \
        "failed with key <API key>"


def test_jobs_that_read_weights_refuse_a_model_on_ndif():
    remote = nnsight_session(Transport.NDIF)
    with pytest.raises(NotReadyError, match="the neuron view reads the model's weights, which stay on NDIF's "
                                            "servers"):
        with_weights(remote, "the neuron view")
    with pytest.raises(NotReadyError, match="an attribution graph reads the model's weights"):
        with_sae(remote, "an attribution graph", weights=True)
    assert with_sae(remote, "the contrastive finder") is remote  # features only: fine
    here = nnsight_session(Transport.IN_PROCESS)
    assert with_weights(here, "the neuron view") is here


def test_the_transformers_engine_is_chosen_for_the_load_only(monkeypatch):
    monkeypatch.setenv(ENGINE_ENV, "auto")
    with transformers_engine():
        assert os.environ[ENGINE_ENV] == "transformers"
    assert os.environ[ENGINE_ENV] == "auto"
    monkeypatch.delenv(ENGINE_ENV)
    with pytest.raises(RuntimeError), transformers_engine():
        raise RuntimeError("a failed load")
    assert ENGINE_ENV not in os.environ
