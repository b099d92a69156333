"""An exported control vector steers llama.cpp as the steering steers the app (packaging/interop/
check_llamacpp_control_vector.py, on a smaller run). Needs llama-cpp-python in its own environment:
LLAMACPP_PYTHON (default /tmp/llamacpp-venv/bin/python); see packaging/interop/README.md."""

import importlib.util
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "interop" / "check_llamacpp_control_vector.py"


def test_the_music_control_vector_steers_llamacpp_like_the_app(tmp_path):
    spec = importlib.util.spec_from_file_location("check_llamacpp_control_vector", SCRIPT)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    out = tmp_path / "r.json"
    python = os.environ.get("LLAMACPP_PYTHON", "/tmp/llamacpp-venv/bin/python")
    code = check.main(["--llama-python", python, "--concepts", "music", "--prompts", "4", "--logit-prompts", "2",
                       "--seeds", "1", "--max-new-tokens", "32", "--json", str(out)])
    r = json.loads(out.read_text())["concepts"]["music"]
    assert code == 0  # llama.cpp's steered answers name the concept more often than its unsteered ones
    corr = r["logit_shift_correlation_median"]
    assert corr["0"] > 0.9 and corr["0"] > corr["-1"] and corr["0"] > corr["+1"]  # the layer mapping is right
    assert r["keyword_rate"]["app"]["steered"] > r["keyword_rate"]["app"]["unsteered"]
