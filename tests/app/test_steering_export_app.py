"""Exporting the current steering through the app model (PresetActions.export_steering): the file is written on the
worker from the loaded SAE's decoder, refusals change nothing and write nothing, and a safetensors export loads
back as a steering vector that adds the same."""

import numpy as np

from desktop_sae.core.interop.llamacpp_control_vector import read_control_vector
from desktop_sae.core.sae.formats import load_sae


def finish(ctl):
    ctl.wait_until(lambda: not ctl.jobs.outstanding, 30, "the export")


def test_the_current_steering_is_written_as_a_control_vector(ctl, tmp_path, tiny_sae_dir):
    ctl.steering.steer(3, 1.5, unit="raw")
    ctl.steering.steer(5, 0.5, unit="max")
    ctl.steering.set_multiplier(-2.0)
    seen = []
    ctl.presets.exported.connect(lambda export, path: seen.append((export.layer, path)))
    out = tmp_path / "mine.gguf"
    assert ctl.presets.export_steering(out) is not None
    finish(ctl)
    W = load_sae(tiny_sae_dir).W_dec.detach().numpy()
    cv = read_control_vector(out)
    np.testing.assert_allclose(cv.directions[1], -2.0 * (1.5 * W[3] + 0.5 * 2.0 * W[5]), rtol=1e-5, atol=1e-6)
    assert cv.export["name"] == "mine" and cv.export["features"] == [3, 5]
    assert seen == [(1, out)]
    assert "Steering exported (2 rows, llama.cpp layer 1)" in ctl.notices.status and not ctl.notices.last_error


def test_non_additive_steering_is_refused_before_any_job(ctl, tmp_path):
    ctl.steering.steer(3, 1.5, unit="raw")
    ctl.steering.steer(8, 1.0, method="clamp")
    before = ctl.steering.config
    out = tmp_path / "no.gguf"
    assert ctl.presets.export_steering(out) is None
    assert not ctl.jobs.outstanding and not out.exists()
    assert "these rows cannot: feature 8" in ctl.notices.last_error and "(clamp)" in ctl.notices.last_error
    assert ctl.steering.config == before


def test_an_unknown_suffix_and_no_steering_are_refused(ctl, tmp_path):
    assert ctl.presets.export_steering(tmp_path / "x.json") is None
    assert "export to a .gguf" in ctl.notices.last_error
    assert ctl.presets.export_steering(tmp_path / "empty.gguf") is not None  # checked on the worker
    finish(ctl)
    assert "no steering row is switched on" in ctl.notices.last_error and not (tmp_path / "empty.gguf").exists()


def test_a_safetensors_export_loads_back_as_a_vector_that_adds_the_same(ctl, tmp_path, tiny_sae_dir):
    ctl.steering.steer(3, 1.5, unit="raw")
    ctl.steering.steer(40, -0.75, unit="raw")
    out = tmp_path / "set.safetensors"
    ctl.presets.export_steering(out)
    finish(ctl)
    ctl.steering.clear()
    spec = ctl.steering.load_vector(out)
    assert spec is not None and spec.vector is not None and spec.method == "add" and spec.strength == 1.0
    W = load_sae(tiny_sae_dir).W_dec.detach().numpy()
    np.testing.assert_allclose(np.asarray(spec.vector), 1.5 * W[3] - 0.75 * W[40], rtol=1e-5, atol=1e-6)
    assert "Steering vector loaded: set, 64 dimensions" in ctl.notices.status
