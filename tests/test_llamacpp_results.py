"""The committed llama.cpp control-vector check (docs/results/interop/llamacpp_control_vector.json, written by
packaging/interop/check_llamacpp_control_vector.py): its shape, and that the exported vectors steered llama.cpp."""

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results" / "interop" / "llamacpp_control_vector.json"
ENGINES = ("llamacpp", "app")


def test_the_results_file_has_its_meta_settings_and_one_entry_per_concept():
    r = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert r["meta"]["command"].startswith("python packaging/interop/check_llamacpp_control_vector.py")
    assert r["llama_cpp"]["llama_cpp_python"] == "0.3.36" and r["llama_cpp"]["n_layer"] == 30
    s = r["settings"]
    assert s["answers_per_condition"] == s["prompts"] * len(s["runs"]) and s["runs"][0]["temperature"] == 0.0
    assert set(r["statistics"]) == {"keyword_rate", "logit_shift_correlation_median",
                                    "logit_shift_relative_error_median"}
    assert len(r["concepts"]) >= 3
    for name, c in r["concepts"].items():
        assert c["hook"] == "blocks.12.hook_resid_post" and c["llamacpp_layer"] == 12, name
        assert c["keywords"] and c["rows"] >= 1 and c["vector_norm"] > 0
        for engine in ENGINES:
            assert set(c["keyword_rate"][engine]) == {"steered", "unsteered"}
            assert all(0.0 <= v <= 1.0 for v in c["keyword_rate"][engine].values())
        assert set(c["logit_shift_correlation_median"]) == {"-1", "0", "+1"}


def test_every_exported_vector_steered_llamacpp_toward_its_concept():
    for name, c in json.loads(RESULTS.read_text(encoding="utf-8"))["concepts"].items():
        rate = c["keyword_rate"]["llamacpp"]
        assert rate["steered"] > rate["unsteered"], name


def test_the_logit_shift_matches_the_app_at_the_mapped_layer_best():
    for name, c in json.loads(RESULTS.read_text(encoding="utf-8"))["concepts"].items():
        corr = c["logit_shift_correlation_median"]
        assert corr["0"] > 0.9 and corr["0"] > max(corr["-1"], corr["+1"]), name
