"""The shipped form of a depth SAE (packaging/attribution/package_depth_sae.py): the trimmed dictionary reads back
with each feature's first top examples and all its quantile examples, whatever its own counts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from desktop_sae.core.features.dictionary import FeatureDictionary

SCRIPT = Path(__file__).resolve().parents[1] / "packaging" / "attribution" / "package_depth_sae.py"


def _module():
    spec = importlib.util.spec_from_file_location("package_depth_sae", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _arrays(counts):
    rng = np.random.default_rng(0)
    n, width, win = len(counts), 25, 4
    a = {"ex_count": np.array(counts, np.int32), "ex_tokens": rng.integers(0, 300, (n, width, win), dtype=np.int32),
         "ex_values": rng.random((n, width, win)).astype(np.float16),
         "ex_act": rng.random((n, width)).astype(np.float32),
         "max_activation": np.ones(n, np.float32), "mean_activation": np.ones(n, np.float32),
         "density": np.ones(n, np.float32), "histogram": np.zeros((n, 16), np.int32),
         "top_logit_ids": np.zeros((n, 10), np.int32), "top_logit_values": np.zeros((n, 10), np.float32),
         "bottom_logit_ids": np.zeros((n, 10), np.int32), "bottom_logit_values": np.zeros((n, 10), np.float32)}
    return a


def _write(folder: Path, arrays):
    folder.mkdir(parents=True)
    save_file(arrays, str(folder / "dictionary.safetensors"))
    n = len(arrays["ex_count"])
    (folder / "dictionary.json").write_text(json.dumps({"labels": [f"f{i}" for i in range(n)],
                                                        "vocab": {str(i): f"t{i}" for i in range(300)}}))


def test_trimmed_dictionary_keeps_top_and_all_quantile_examples(tmp_path):
    counts = [[20, 5], [7, 5], [3, 2], [0, 0], [12, 4]]
    arrays = _arrays(counts)
    _write(tmp_path / "full", arrays)
    _write(tmp_path / "trim", _module().trim_dictionary(arrays, top=10))
    full, trim = FeatureDictionary.load(tmp_path / "full"), FeatureDictionary.load(tmp_path / "trim")
    assert trim.a["ex_tokens"].dtype == np.uint16 and trim.a["ex_tokens"].shape[1] == 15
    for f, (n_top, n_q) in enumerate(counts):
        a, b = full.entry(f), trim.entry(f)
        assert b["top_examples"] == a["top_examples"][:10]
        assert len(b["top_examples"]) == min(n_top, 10)
        assert b["quantile_examples"] == a["quantile_examples"] and len(b["quantile_examples"]) == n_q
