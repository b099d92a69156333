"""``desktop-sae export-steering`` on the tiny SAE (the model is named, not loaded)."""

import json

import numpy as np

from desktop_sae.cli import main
from desktop_sae.core.interop.llamacpp_control_vector import read_control_vector
from desktop_sae.core.sae.formats import load_sae
from desktop_sae.core.steering.vectors import load_vector


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def preset_file(tmp_path, features, multiplier=1.0):
    d = {"schema": "desktop-sae-preset", "version": 1, "name": "Two features", "model": "tiny-llama",
         "sae": {"name": "tiny-sae", "d_sae": 256, "hook": "blocks.1.hook_resid_post", "fingerprint": ""},
         "steering": {"multiplier": multiplier, "skip_special": True, "features": features}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(d))
    return path


def test_a_preset_is_written_as_both_files(capsys, tmp_path, tiny_sae_dir):
    p = preset_file(tmp_path, [{"id": 10, "strength": 0.5, "unit": "max"}, {"id": 20, "strength": -3.0}], 2.0)
    gg, st = tmp_path / "out.gguf", tmp_path / "out.safetensors"
    code, out, err = run(capsys, "export-steering", "--preset", str(p), "--sae", str(tiny_sae_dir),
                         "--model", "tiny-llama", "--gguf", str(gg), "--safetensors", str(st))
    assert code == 0, err
    W = load_sae(tiny_sae_dir).W_dec.detach().numpy()
    expected = 2.0 * (0.5 * 2.0 * W[10] - 3.0 * W[20])  # the tiny SAE's max activation is 2 for every feature
    cv = read_control_vector(gg)
    assert list(cv.directions) == [1] and cv.model_hint == "tiny-llama" and cv.export["name"] == "Two features"
    np.testing.assert_allclose(cv.directions[1], expected, rtol=1e-5, atol=1e-6)
    vec = load_vector(st)
    np.testing.assert_array_equal(np.asarray(vec.values, np.float32), cv.directions[1])
    assert "2 additive rows at blocks.1.hook_resid_post" in out and "llama.cpp layer 1 (direction.1" in out
    assert f"--control-vector {gg}" in out
    assert f"wrote {gg} (gguf)" in err and "special tokens" in err


def test_steer_rows_and_a_multiplier(capsys, tmp_path, tiny_sae_dir):
    gg = tmp_path / "s.gguf"
    code, _, err = run(capsys, "export-steering", "--steer", "5=4", "--multiplier", "0.5", "--sae",
                       str(tiny_sae_dir), "--gguf", str(gg), "--name", "five")
    assert code == 0, err
    cv = read_control_vector(gg)
    np.testing.assert_allclose(cv.directions[1], 2.0 * load_sae(tiny_sae_dir).W_dec.detach().numpy()[5], rtol=1e-6)
    assert cv.export["name"] == "five" and cv.export["multiplier"] == 0.5


def test_a_clamp_row_is_refused_and_nothing_is_written(capsys, tmp_path, tiny_sae_dir):
    gg = tmp_path / "c.gguf"
    code, _, err = run(capsys, "export-steering", "--steer", "5=4", "--steer", "6=2x:clamp", "--sae",
                       str(tiny_sae_dir), "--gguf", str(gg))
    assert code == 2
    assert "error: only additive steering can be exported" in err and "feature 6 (clamp)" in err
    assert not gg.exists()


def test_a_preset_for_another_sae_is_refused(capsys, tmp_path, tiny_sae_dir):
    p = preset_file(tmp_path, [{"id": 300, "strength": 1.0}])
    code, _, err = run(capsys, "export-steering", "--preset", str(p), "--sae", str(tiny_sae_dir),
                       "--gguf", str(tmp_path / "x.gguf"))
    assert code == 2 and "feature 300 does not exist (this SAE has 0..255)" in err


def test_it_needs_an_output_and_one_source(capsys, tmp_path, tiny_sae_dir):
    code, _, err = run(capsys, "export-steering", "--steer", "5=4", "--sae", str(tiny_sae_dir))
    assert code == 2 and "--gguf OUT.gguf and/or --safetensors OUT.safetensors" in err
    code, _, err = run(capsys, "export-steering", "--sae", str(tiny_sae_dir), "--gguf", str(tmp_path / "a.gguf"))
    assert code == 2 and "give either --preset or one or more --steer rows" in err
