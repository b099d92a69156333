"""Training metrics from the pipeline, and the app's training runs: spec checks, names, folders, publishing."""

import json
from datetime import datetime

import pytest

from desktop_sae.core.training.corpus import is_held_out
from desktop_sae.core.training.pipeline import PipelineConfig, run_pipeline, tokenise
from desktop_sae.core.training.run_specs import (
    RunSpec,
    TrainingSetupError,
    auto_batch_size,
    default_name,
    discard,
    publish,
    saes_dir,
    training_devices,
    unfinished_runs,
    work_root,
)
from test_training_pipeline import _corpus
from tiny import TRAIN_TEXT, tiny_lm


def _pipeline(tmp_path, **kw):
    base = dict(out=tmp_path / "sae", corpus=(str(_corpus(tmp_path)),), hook="blocks.1.hook_resid_post", width=128,
                k=4, tokens=8192, batch_size=256, ctx=32, held_out=0.2, eval_tokens=256, dictionary=False)
    return PipelineConfig(**{**base, **kw})


def test_the_pipeline_reports_training_metrics_every_log_step(tmp_path):
    points, messages = [], []
    run_pipeline(tiny_lm(), _pipeline(tmp_path, log_every=4), lambda f, m: messages.append(m), metrics=points.append)
    assert [p.step for p in points] == list(range(4, 33, 4))  # 8192 / 256 = 32 steps
    assert [p.tokens for p in points] == [256 * p.step for p in points]
    assert all(0 < p.l0 <= 4 and 0 <= p.dead_fraction <= 1 and p.loss > 0 for p in points)
    assert points[-1].explained_variance > points[0].explained_variance  # it learns
    train_msgs = [m for m in messages if m.startswith("train: step")]
    assert len(train_msgs) == len(points) and "EV" in train_msgs[0]  # the CLI's messages are unchanged


def test_dead_fraction_counts_latents_silent_for_the_dead_window(tmp_path):
    seen = {}
    for window in (64, 10**6):
        (tmp_path / str(window)).mkdir()
        pts = []
        run_pipeline(tiny_lm(), _pipeline(tmp_path / str(window), width=512, k=2, tokens=4096,
                                          train_options={"dead_tokens": window}), metrics=pts.append)
        seen[window] = max(p.dead_fraction for p in pts)
    assert seen[64] > 0.2 and seen[10**6] == 0.0  # 512 latents, 2 per token: most are silent over 64 tokens


@pytest.mark.parametrize("fraction", [0.01, 0.99])  # the one document lands in training, then in held-out
def test_one_long_document_still_gets_contexts_for_both_sides(tmp_path, fraction):
    (tmp_path / "one.txt").write_text(TRAIN_TEXT * 4)
    side = is_held_out(TRAIN_TEXT * 4, fraction)
    cfg = PipelineConfig(out=tmp_path / "o", corpus=(str(tmp_path / "one.txt"),), ctx=32, held_out=fraction)
    tc = tokenise(tiny_lm(), cfg)
    n = len(tc.train) + len(tc.held_out)
    assert side == (fraction > 0.5) and n > 20  # the split did put it on one side
    assert len(tc.held_out) == max(1, round(fraction * n)) and len(tc.train) == n - len(tc.held_out)


def test_auto_batch_size_gives_a_few_hundred_steps():
    assert auto_batch_size(8192) == 256
    assert auto_batch_size(400_000) == 1024 and 300 <= 400_000 // 1024 <= 500
    assert auto_batch_size(50_000_000) == 4096


def test_spec_checks_say_what_to_change(tmp_path):
    ok = RunSpec("my-sae", "blocks.1.hook_resid_post", width=64, k=4, tokens=4096)
    assert ok.validate(n_layers=3) is ok
    for bad, words in (
        (RunSpec("../evil", ok.hook), "letters"),
        (RunSpec("x", "blocks.1.resid"), "hook point"),
        (RunSpec("x", "blocks.7.hook_resid_post"), "layers 0 to 2"),
        (RunSpec("x", ok.hook, width=32, k=32), "k must be"),
        (RunSpec("x", ok.hook, tokens=100), "at least"),
        (RunSpec("x", ok.hook, corpus=(str(tmp_path / "nope.txt"),)), "not found"),
    ):
        with pytest.raises(TrainingSetupError, match=words):
            bad.validate(n_layers=3)


def test_spec_to_pipeline_config_and_back_from_its_work_folder(tmp_path):
    spec = RunSpec("run-a", "blocks.2.hook_mlp_out", width=1024, k=16, tokens=200_000, passes=2, device="cpu")
    cfg = spec.pipeline_config()
    assert cfg.work_dir == work_root() / "run-a" and cfg.out == spec.work_dir / "sae"
    assert (cfg.tokens, cfg.collect_tokens, cfg.batch_size) == (400_000, 200_000, 1024)
    assert cfg.corpus == (str(spec.work_dir / "corpus"),)  # the built-in recipe is written there
    assert cfg.train_options["dead_tokens"] == 100_000 and cfg.split_chars and cfg.log_every >= 1
    assert cfg.eval_tokens == 8000 and cfg.collect_batch_size == 8
    assert RunSpec("big", spec.hook, tokens=2_000_000).pipeline_config().eval_tokens == 16384
    spec.save()
    assert RunSpec.load(spec.work_dir) == spec and unfinished_runs() == [spec]
    with_files = RunSpec("run-b", spec.hook, corpus=(str(tmp_path),))
    with_files.save()
    assert RunSpec.load(with_files.work_dir).corpus == (str(tmp_path),)
    assert {s.name for s in unfinished_runs()} == {"run-a", "run-b"}


def test_default_names_follow_model_layer_width_date_and_stay_unique():
    when = datetime(2025, 3, 4, 5, 6)
    name = default_name("SmolLM2 135M/Instruct", "blocks.12.hook_resid_post", 1024, when)
    assert name == "SmolLM2-135M-Instruct-L12-w1024-20250304-0506"
    assert default_name("m", "blocks.3.hook_attn_out", 64, when) == "m-L3-attn_out-w64-20250304-0506"
    (saes_dir() / name).mkdir(parents=True)
    assert default_name("SmolLM2 135M/Instruct", "blocks.12.hook_resid_post", 1024, when) == name + "-2"


def test_publish_moves_the_sae_and_deletes_the_work_folder():
    spec = RunSpec("done-run", "blocks.1.hook_resid_post")
    staged = spec.work_dir / "sae"
    staged.mkdir(parents=True)
    with pytest.raises(TrainingSetupError, match="no finished SAE"):
        publish(spec)
    (staged / "cfg.json").write_text(json.dumps({"d_sae": 8}))
    (spec.work_dir / "acts").mkdir()
    assert publish(spec) == saes_dir() / "done-run"
    assert (saes_dir() / "done-run" / "cfg.json").exists() and not spec.work_dir.exists()
    again = RunSpec("done-run", spec.hook)
    (again.work_dir / "sae").mkdir(parents=True)
    (again.work_dir / "sae" / "cfg.json").write_text("{}")
    with pytest.raises(TrainingSetupError, match="already exists"):
        publish(again)  # never overwrites a trained SAE
    discard(again)
    assert not again.work_dir.exists() and (saes_dir() / "done-run").exists()


def test_the_cpu_is_always_a_training_device():
    devs = training_devices()
    assert devs[0] == "cpu" and set(devs) <= {"cpu", "cuda", "mps"}


def test_evaluation_stops_between_the_passes_of_a_batch():
    import numpy as np

    from desktop_sae.core.support.errors import Cancelled
    from desktop_sae.core.training.sae_evaluation import evaluate
    from tiny import random_sae

    lm = tiny_lm()
    forwards, checks = [], []
    lm.model.register_forward_pre_hook(lambda *_: forwards.append(1))
    ctx = np.random.default_rng(0).integers(3, 200, size=(8, 16)).astype(np.int32)
    ctx[:, 0] = 1

    def cancel_at_second_check() -> bool:
        checks.append(1)
        return len(checks) >= 2

    with pytest.raises(Cancelled):
        evaluate(lm.model, random_sae(), ctx, "blocks.1.hook_resid_post", bos_id=1, batch_size=8,
                 cancel=cancel_at_second_check)
    assert len(forwards) == 1  # the clean pass ran; the SAE pass did not start
