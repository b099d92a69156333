"""What a request to NDIF carries: the feature probe equals each SAE class's own activations, SAEs it cannot serve
are refused with a message, and the pickled request names no module of this app (the server does not have it)."""

from __future__ import annotations

import pytest
import torch

import tiny
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.remote.model_side import ModelSideStep
from desktop_sae.core.remote.ndif_link import wrap_local
from desktop_sae.core.remote.nnsight_runs import ModelRun
from desktop_sae.core.remote.nnsight_session import NnsightSession
from desktop_sae.core.remote.target import Target, Transport
from desktop_sae.core.remote.wire import feature_probe, probe_for, read_features
from desktop_sae.core.sae.autoencoder import ARCHITECTURE_CLASSES
from desktop_sae.core.steering.plan import plan_steering
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.support.errors import SteeringError

CASES = [(arch, {}) for arch in ARCHITECTURE_CLASSES] + [
    ("topk", {"rescale_acts_by_decoder_norm": True}),
    ("standard", {"normalize_activations": "expected_average_only_in", "scaling_factor": 0.5}),
    ("jumprelu", {"apply_b_dec_to_input": False}),
]


@pytest.mark.parametrize(("arch", "cfg"), CASES)
def test_the_probe_gives_the_sae_s_own_activations(arch, cfg):
    sae = tiny.random_sae(arch=arch, **cfg)
    rows = [200, 3, 77, 5]
    probe, cols = feature_probe(sae, rows)
    x = torch.randn(2, 9, 64, generator=torch.Generator().manual_seed(1)) * 3
    want = sae.selected_activations(sae.input_pre_activations(x), torch.tensor(rows))
    got = probe.activations(probe.pre(x), torch.tensor([cols.index(f) for f in rows]))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert (want > 0).any()  # some of them fire, so the gates were tested
    assert probe.weights.shape[1] == (256 if arch == "topk" else len(rows))  # only TopK sends every feature


def test_a_plan_that_reads_no_activations_sends_no_probe():
    sae = tiny.with_stats(tiny.random_sae())
    plan = plan_steering(SteeringConfig((SteerSpec(3, 2.0), SteerSpec(4, 0.5, method="cap"))), sae)
    probe, wire_plan, _ = probe_for(plan, sae)
    assert probe is None and read_features(plan) == []
    assert wire_plan.add_shift is None and wire_plan.resolved == []  # [d_sae] shifts and panel rows stay here


def test_clamp_with_a_non_linear_input_normalisation_is_refused():
    sae = tiny.with_stats(tiny.random_sae(arch="standard", normalize_activations="layer_norm"))
    plan = plan_steering(SteeringConfig((SteerSpec(3, 2.0, method="clamp"),)), sae)
    with pytest.raises(SteeringError, match="not linear; use add, orthogonal or cap"):
        probe_for(plan, sae)


def test_a_large_topk_encoder_is_not_sent(monkeypatch):
    import desktop_sae.core.remote.wire as wire

    monkeypatch.setattr(wire, "WHOLE_ENCODER_LIMIT", 1000)
    with pytest.raises(SteeringError, match=r"whole encoder \(0 MB\)"):
        feature_probe(tiny.random_sae(), [3])


class _Recorder:
    """nnsight's local simulation, keeping the request it serialised."""

    def __init__(self, model):
        from nnsight.intervention.backends.local import LocalSimulationBackend

        self.inner = LocalSimulationBackend(model)
        self.blobs: list[bytes] = []

    def __call__(self, tracer):
        from nnsight.schema.request import RequestModel

        self.blobs.append(RequestModel.serialize(tracer, compress=False))
        return self.inner(tracer)


def _modules_named(blob: bytes, persistent: dict) -> set[str]:
    from nnsight.intervention.serialization import CustomCloudUnpickler
    from nnsight.schema.request import RequestModel

    seen: set[str] = set()

    class Naming(CustomCloudUnpickler):
        def find_class(self, module, name):
            seen.add(module)
            return super().find_class(module, name)

    RequestModel.deserialize(blob, persistent, compress=False, unpickler=Naming)
    return seen


def test_the_request_names_no_module_of_the_app(monkeypatch):
    lm = tiny.tiny_lm()
    run = wrap_local(lm.model, lm.tokenizer, Target("tiny", Transport.SIMULATED))
    recorder = _Recorder(run.model)
    monkeypatch.setattr(ModelRun, "_options", lambda self: {"backend": recorder})
    session = NnsightSession(run, tiny.with_stats(tiny.random_sae(arch="jumprelu")))
    steer = SteeringConfig((SteerSpec(3, 4.0, method="clamp"), SteerSpec(8, 2.0), SteerSpec(9, 0.0, method="orth")))
    out = session.generate("hello", SamplingConfig(temperature=0, max_new_tokens=3), steer)
    assert len(out.answer_ids) == 3
    assert len(recorder.blobs) == 2  # the typical norm's forward (for the strength units), then the generation
    for blob in recorder.blobs:
        modules = _modules_named(blob, run.model._remoteable_persistent_objects())
        assert "torch" in " ".join(modules)  # the reader saw the request's classes
        assert not [m for m in modules if m.startswith("desktop_sae")]  # the app's code travelled by value
    assert ModelSideStep.__module__ == "desktop_sae.core.remote.model_side"
