"""Every benchmark runs in its smoke profile and writes a well-formed results file, so none can rot unnoticed.

Each ``tests/bench/bench_*.py`` script (and ``desktop-sae bench engine --quick``) runs in its own process with
``--smoke`` (tiny sizes) and ``--json`` to a temporary file; the file must hold the ``meta`` block every results
file carries (``core.support.results_file``), a non-empty ``summary`` with the keys the docs quote, and say it was a
smoke run. The scripts start together, as many at a time as the machine has cores (each on one torch thread, which
keeps a busy machine's thread joins from slowing them tenfold), and each test waits for its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "tests" / "bench").glob("bench_*.py"))
ENGINE = "desktop-sae bench engine --quick"
META_KEYS = {"date", "machine", "load_average_1min", "versions", "command"}
TIMEOUT_S = 300

# summary keys (dotted for nested ones) that the README and docs quote from each benchmark's results file
QUOTED: dict[str, set[str]] = {
    ENGINE: {"table", "bandwidth_gb_s_best", "vs_generate_fp32_median_bfloat16", "vs_generate_fp32_median_int8",
             "sae_and_steering_cost_pct_bfloat16.min", "sae_and_steering_cost_pct_bfloat16.max",
             "kernels.onednn.gb_s_median", "kernels.mv.gb_s_median", "kernels.linear.gb_s_median",
             "bfloat16_rest_ms_per_token_median.onednn"},
    "bench_gui.py": {"first_paint_s_median", "first_paint_s_min", "first_paint_s_max", "ready_s_median",
                     "ready_s_min", "ready_s_max", "stall_gap_p99_ms"},
    "bench_lite.py": {"lite_first_token_s_median", "transformers_first_token_s_median",
                      "lite_vs_transformers_bfloat16_min", "lite_vs_transformers_bfloat16_max",
                      "same_tokens_as_transformers"},
    "bench_contention.py": {"tok_s_median.one core busy: governor", "tok_s_median.one core busy: fixed 1"},
    "bench_int8.py": {"residual_rel_error_median", "argmax_agreement", "kl_nats_mean",
                      "sae_explained_variance.bfloat16", "sae_explained_variance.int8"},
    "bench_eval_batch.py": {"batch_1_s_median", "batch_2_speedup_median", "batch_2_identical_answers"},
    "bench_row_independence.py": {"bfloat16.onednn/down_proj", "bfloat16.linear/down_proj", "int8.engine/down_proj",
                                  "int4.engine/down_proj", "int4.engine/lm_head", "int4.engine/sae_encoder",
                                  "float32.linear/down_proj", "attention.float32", "attention.bfloat16"},
    "bench_sweep_batch.py": {"bfloat16.greedy.answers_speedup_median", "bfloat16.greedy.sweep_speedup_median",
                             "bfloat16.greedy.equal_rows", "bfloat16.seed_42.equal_rows", "bfloat16.padded.equal_rows"},
    "bench_gui_compare.py": {"this.ready_s_median", "ratio_this_over_base.ready_s_median"},
    "bench_train_cancel.py": {"cancel_latency_s_max", "run_finished"},
    "bench_train_dialog.py": {"wall_s", "stage_s"},
    "bench_trainer.py": {"ours_float32.tokens_per_s", "collect.tokens_per_s"},
    # the smoke profile's one width (256) stands for the full run's 4 608 and 16 384
    "bench_trainer_vs_saelens.py": {"w256_ours_tok_s", "w256_ours_ev"},
    "bench_feature_search.py": {"median_ms", "p99_ms"},
    "bench_sae_directory.py": {"cold_load_s_median", "cached_load_s_median", "fill_s_median", "filter_s_median",
                               "filter_s_max"},
    "bench_attribution.py": {"graph_s_median", "graph_s_best", "graph_over_forward_median", "peak_rss_mb",
                             "rss_with_model_mb", "nodes", "edges"},
    "bench_stop.py": {"worker_idle_ms_p50", "worker_idle_ms_p99", "tokens_after_stop_max"},
    "bench_real_shapes.py": {"table", "bandwidth_gb_s_best", "models.gemma-3-1b-it.sae_steer_cost_pct.bfloat16",
                             "models.gemma-3-1b-it.bandwidth_limit_tok_s.int8",
                             "models.gemma-3-270m-it.lite_bfloat16_vs_generate.float32"},
    "bench_llamacpp.py": {"tok_s_median.int4 + SAE + 3 steered", "products_only_ms_per_token_median.int4",
                          "profile.int4 + SAE + 3 steered.python_op_calls_per_token"},
    "bench_decode_profile.py": {"params_millions", "bandwidth_gb_s_best", "kernels.onednn.pass_ms_median",
                                "tap_sae_3_add_pct_of_token", "int8_all_vs_bfloat16_pass_speed"},
}
THREADS = {"bench_contention.py": None}  # compares thread counts: keeps the machine's own


def _command(name: str, out: Path) -> list[str]:
    if name == ENGINE:
        return [sys.executable, "-m", "desktop_sae", "bench", "engine", "--quick", "--json", str(out)]
    return [sys.executable, str(ROOT / "tests" / "bench" / name), "--smoke", "--json", str(out)]


def _run(name: str, out: Path, home: Path) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "QT_QPA_PLATFORM": "offscreen", "DESKTOP_SAE_CONFIG_DIR": str(home / "config"),
           "DESKTOP_SAE_DATA_DIR": str(home / "data")}
    threads = THREADS.get(name, "1")
    if threads:
        env["OMP_NUM_THREADS"] = threads
    t = time.monotonic()
    proc = subprocess.run(_command(name, out), env=env, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
    return proc, time.monotonic() - t


@pytest.fixture(scope="module")
def smoke_runs(request, tmp_path_factory) -> dict[str, tuple[Path, Future]]:
    """Start the smoke run of every benchmark this session selected; {name: (results path, future)}."""
    wanted = {item.callspec.params["name"] for item in request.session.items
              if getattr(item, "callspec", None) and item.module is request.module}
    pool = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)))
    request.addfinalizer(lambda: pool.shutdown(wait=True))
    runs = {}
    for name in [ENGINE, *SCRIPTS]:
        if name in wanted:
            tmp = tmp_path_factory.mktemp(name.replace(" ", "_").removesuffix(".py"))
            runs[name] = (tmp / "results.json", pool.submit(_run, name, tmp / "results.json", tmp))
    return runs


def _get(summary: dict, dotted: str) -> object:
    node: object = summary
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, f"summary lacks {dotted!r}"
        node = node[part]
    return node


def test_every_benchmark_script_is_covered_and_its_quoted_keys_are_listed():
    assert len(SCRIPTS) >= 10 and set(QUOTED) - {ENGINE} <= set(SCRIPTS)


@pytest.mark.parametrize("name", [ENGINE, *SCRIPTS])
def test_the_benchmark_runs_in_its_smoke_profile_and_writes_a_well_formed_results_file(name, smoke_runs):
    out, future = smoke_runs[name]
    proc, seconds = future.result()
    assert proc.returncode == 0, f"{name} failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}"
    assert out.is_file(), f"{name} wrote no results file:\n{proc.stdout[-2000:]}"
    rec = json.loads(out.read_text(encoding="utf-8"))
    assert META_KEYS <= set(rec["meta"]), sorted(META_KEYS - set(rec["meta"]))
    assert rec["meta"]["date"][:2] == "20" and rec["meta"]["machine"]["cores"] and rec["meta"]["versions"]["torch"]
    assert ("bench engine" if name == ENGINE else name) in rec["meta"]["command"]
    assert isinstance(rec["summary"], dict) and rec["summary"], "empty summary"
    for key in QUOTED.get(name, ()):
        _get(rec["summary"], key)
    assert rec.get("quick" if name == ENGINE else "smoke") is True
    print(f"{name}: {seconds:.1f} s")


def test_the_readme_speed_table_is_the_one_its_results_file_gives():
    """The README's engine table is ``desktop-sae bench engine --table docs/results/bench/bench_engine.json``."""
    import re

    from desktop_sae.core.engine.benchmark import engine_table

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- engine-table -->\n(.*?)\n<!-- /engine-table -->", readme, re.S)
    record = json.loads((ROOT / "docs" / "results" / "bench" / "bench_engine.json").read_text(encoding="utf-8"))
    assert block and block.group(1) == engine_table(record)
