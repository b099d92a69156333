"""Training an SAE as a run (one job on the runner, no Qt): progress per stage, the training curve
as partials, cancel mid-training, resume from the work folder (also from a new ``TrainingRun``, as after a
restart), the SAE in saes/<name>, and loading it onto the running model."""

import json
import time

import pytest

import tiny
from desktop_sae.app import training_run as tr
from desktop_sae.app.runs import RunChange, RunStatus
from desktop_sae.app.train_tasks import STAGES
from desktop_sae.core.training.run_specs import RunSpec, TrainingSetupError, saes_dir
from desktop_sae.core.training.trainer import TopKTrainer


def corpus_file(folder):
    sents = [s.strip() for s in tiny.TRAIN_TEXT.split(".") if s.strip()]
    p = folder / "corpus.jsonl"
    p.write_text("\n".join(json.dumps({"text": f"{sents[i % len(sents)]} {i}. " * 6}) for i in range(300)))
    return p


def slow_steps(monkeypatch, seconds=0.004):
    """Each training step takes a few ms more, so a cancel lands mid-training on any machine."""
    step = TopKTrainer.step
    monkeypatch.setattr(TopKTrainer, "step", lambda self, *a, **kw: (time.sleep(seconds), step(self, *a, **kw))[1])


def test_train_cancel_resume_and_use_the_sae(ctl, tmp_path, monkeypatch):
    slow_steps(monkeypatch)
    spec = RunSpec("tiny-run", "blocks.1.hook_resid_post", corpus=(str(corpus_file(tmp_path)),), width=96, k=4,
                   tokens=6000, passes=8, ctx=32)
    run = tr.TrainingRun(ctl.jobs, ctl.model)
    stages = []
    run.changed.connect(lambda what: what == RunChange.PROGRESS and (not stages or stages[-1] != run.stage)
                        and stages.append(run.stage))
    run.start(spec)
    assert run.running
    ctl.wait_until(lambda: len(run.points) >= 5 or not run.running, 60, "training points")
    assert run.running and run.stage == "train" and run.finished == ["tokenise", "collect"]
    t0 = time.monotonic()
    run.cancel()
    ctl.wait_until(lambda: not run.running, 10, "the cancel")
    assert run.status == RunStatus.CANCELLED and time.monotonic() - t0 < 1.0
    assert stages == ["tokenise", "collect", "train"]
    _, meta = TopKTrainer.load_checkpoint(spec.pipeline_config().work_dir / "run")
    before = list(run.points)
    assert 0 < meta["step"] < spec.train_tokens // 256 and before[-1].step <= meta["step"]
    assert not (saes_dir() / "tiny-run").exists()
    (saved,) = tr.TrainingRun.unfinished()
    assert saved.name == "tiny-run" and saved.model == "tiny-llama" and saved.corpus == spec.corpus

    # a new TrainingRun (as after restarting the app) resumes the unfinished run with its saved curve
    again = tr.TrainingRun(ctl.jobs, ctl.model)
    messages = []
    again.changed.connect(lambda what: what == RunChange.PROGRESS and messages.append((again.stage, again.fraction)))
    again.resume(saved)
    ctl.wait_until(lambda: not again.running, 120, "the resumed run")
    assert again.status == RunStatus.DONE, again.error
    assert again.points[: len(before)] == [p for p in before if p.step <= meta["step"]]  # the history came back
    assert again.points[len(before)].step > meta["step"]  # and training went on from the checkpoint
    assert [p.step for p in again.points] == sorted({p.step for p in again.points})
    assert again.points[-1].tokens == again.points[-1].total_tokens == spec.train_tokens // 256 * 256
    collect = [f for s, f in messages if s == "collect"]
    assert collect == [1.0]  # the activations were already complete: not collected again
    assert again.finished == [s for s in STAGES if s != "corpus"]

    out = again.outcome
    assert out.path == str(saes_dir() / "tiny-run") and (saes_dir() / "tiny-run" / "cfg.json").exists()
    assert not spec.work_dir.exists() and again.unfinished() == []
    ev = out.evaluation
    assert 0 < ev["l0"] <= 4 and ev["explained_variance"] > 0.2
    # the evaluation spliced the trained SAE in: the tiny model's CE moves 0.020 nats when the hook is zeroed, and
    # this SAE recovers 0.863 of that (delta loss -0.003). An evaluation that does not splice gives exactly 1 and
    # 0, one that splices zeros gives 0 and -0.020, a NaN fails both
    assert 0.5 < ev["ce_loss_recovered"] < 0.99 and abs(ev["delta_loss"]) < 0.01
    assert set(out.stage_seconds) == {"tokenise", "collect", "train", "dictionary", "evaluate"}

    loaded = []
    ctl.model.loaded.connect(loaded.append)
    again.use()
    ctl.wait_idle(30)
    assert loaded and ctl.model.info.d_sae == 96 and ctl.model.info.sae_path == out.path


def test_builtin_recipe_needs_no_files_and_a_taken_name_is_refused(ctl, tmp_path):
    spec = RunSpec("builtin-run", "blocks.0.hook_resid_post", width=64, k=4, tokens=3000, passes=1, ctx=32)
    run = tr.TrainingRun(ctl.jobs, ctl.model)
    run.start(spec)
    ctl.wait_until(lambda: not run.running, 120, "the built-in run")
    assert run.status == RunStatus.DONE, run.error
    assert run.finished[0] == "corpus" and run.outcome.evaluation is not None
    meta = json.loads((saes_dir() / "builtin-run" / "cfg.json").read_text())["metadata"]
    assert meta["corpus"] == "built-in recipe"
    with pytest.raises(TrainingSetupError, match="taken"):
        run.start(spec)
    with pytest.raises(TrainingSetupError, match="k must"):
        run.start(RunSpec("other", spec.hook, width=4, k=4))


def test_a_failing_run_reports_and_keeps_its_work_folder(ctl, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("hi")
    run = tr.TrainingRun(ctl.jobs, ctl.model)
    run.start(RunSpec("too-small", "blocks.1.hook_resid_post", corpus=(str(empty),), width=64, k=4, tokens=4096))
    ctl.wait_until(lambda: not run.running, 60, "the failure")
    assert run.status == RunStatus.FAILED and "too small" in run.error and run.can_resume
    assert run.spec.work_dir.exists() and not run.spec.out_dir.exists()
