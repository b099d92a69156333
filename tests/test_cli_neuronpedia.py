"""``desktop-sae neuronpedia import|export`` on the tiny SAE (the model is named, not loaded)."""

import json

import pytest

from desktop_sae.cli import main
from desktop_sae.core.presets.store import PresetStore

SRC = "1-res-tiny-sae"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def steer_file(tmp_path):
    d = {"modelId": "tiny-llama", "prompt": "Bridges?", "strength_multiplier": 3, "seed": 9,
         "features": [{"modelId": "tiny-llama", "layer": SRC, "index": 12, "strength": -2.5, "explanation": "twelve"}],
         "STEERED": "steel and cables"}
    path = tmp_path / "steer.json"
    path.write_text(json.dumps(d))
    return path


def test_import_prints_what_it_maps_to(capsys, steer_file, tiny_sae_dir):
    code, out, _ = run(capsys, "neuronpedia", "import", str(steer_file), "--model", "tiny-llama",
                       "--sae", str(tiny_sae_dir))
    assert code == 0
    assert "feature     12  add   -2.5 raw  twelve" in out and "multiplier 3" in out and "seed 9" in out
    assert "prompt: 'Bridges?'" in out and "saved STEERED answer: 'steel and cables'" in out
    assert "note: not given, Neuronpedia's defaults used: temperature" in out


def test_import_json_and_save_as_a_preset(capsys, steer_file, tiny_sae_dir):
    code, out, _ = run(capsys, "neuronpedia", "import", str(steer_file), "--json", "--model", "tiny-llama",
                       "--sae", str(tiny_sae_dir), "--save-preset", "From Neuronpedia")
    assert code == 0
    d = json.loads(out)
    assert d["preset"]["steering"]["features"][0]["id"] == 12 and d["prompt"] == "Bridges?"
    assert d["outputs"] == {"STEERED": "steel and cables"} and d["saved_preset"]
    saved = PresetStore().read(d["saved_preset"])
    assert saved.name == "From Neuronpedia" and saved.steering.multiplier == 3.0


def test_import_of_another_model_fails_with_the_message(capsys, steer_file, tiny_sae_dir):
    code, _, err = run(capsys, "neuronpedia", "import", str(steer_file), "--sae", str(tiny_sae_dir))
    assert code == 2 and "'tiny-llama'" in err and "SmolLM2-135M-Instruct" in err and "smollm2-135m-it" in err


def test_export_a_preset_file_and_import_it_back(capsys, steer_file, tiny_sae_dir, tmp_path):
    run(capsys, "neuronpedia", "import", str(steer_file), "--model", "tiny-llama", "--sae", str(tiny_sae_dir),
        "--save-preset", "round trip")
    out_file = tmp_path / "out.json"
    code, _, err = run(capsys, "neuronpedia", "export", "round trip", "--model", "tiny-llama",
                       "--sae", str(tiny_sae_dir), "--prompt", "Hello?", "--out", str(out_file))
    assert code == 0 and "wrote" in err
    doc = json.loads(out_file.read_text())
    assert doc["features"] == [{"modelId": "tiny-llama", "layer": SRC, "index": 12, "strength": -2.5,
                                "explanation": "twelve"}]
    assert doc["strength_multiplier"] == 3 and doc["steeredChatMessages"] == [{"role": "user", "content": "Hello?"}]
    code, out, _ = run(capsys, "neuronpedia", "import", str(out_file), "--json", "--model", "tiny-llama",
                       "--sae", str(tiny_sae_dir))
    assert code == 0 and json.loads(out)["restored"] is True


def test_export_of_an_unknown_preset_lists_the_presets(capsys, tiny_sae_dir):
    code, _, err = run(capsys, "neuronpedia", "export", "no such preset", "--sae", str(tiny_sae_dir))
    assert code == 2 and "no preset or file 'no such preset'" in err
