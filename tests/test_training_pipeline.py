"""The training pipeline on the tiny model: end to end with per-stage progress; cancelled mid-training, it raises
Cancelled and a second run resumes from the checkpoint."""

import json
from collections import defaultdict

import numpy as np
import pytest

from desktop_sae.core.sae.formats import load_sae
from desktop_sae.core.support.errors import Cancelled, DesktopSAEError
from desktop_sae.core.training.pipeline import STAGES, PipelineConfig, run_pipeline
from desktop_sae.core.training.trainer import TopKTrainer
from tiny import TRAIN_TEXT, tiny_lm


def _corpus(tmp_path):
    sents = [s.strip() for s in TRAIN_TEXT.split(".") if s.strip()]
    p = tmp_path / "c.jsonl"
    p.write_text("\n".join(json.dumps({"text": f"{sents[i % len(sents)]} {i}. " * 6}) for i in range(200)))
    return p


def _config(tmp_path, **kw):
    return PipelineConfig(out=tmp_path / "sae", corpus=(str(_corpus(tmp_path)),), hook="blocks.1.hook_resid_post",
                          width=128, k=4, tokens=8192, batch_size=256, ctx=32, held_out=0.2, eval_tokens=512, **kw)


class Recorder:
    """Collects (stage, fraction) reports and can ask for cancellation once a condition holds."""

    def __init__(self, cancel_when=None):
        self.reports: list[tuple[str, float | None, str]] = []
        self.cancel_when = cancel_when
        self.cancel = False

    def progress(self, fraction, message):
        stage, _, rest = message.partition(": ")
        self.reports.append((stage, fraction, rest))
        if self.cancel_when and self.cancel_when(stage, fraction):
            self.cancel = True

    def cancelled(self):
        return self.cancel

    def by_stage(self):
        out = defaultdict(list)
        for stage, fraction, _ in self.reports:
            if fraction is not None:
                out[stage].append(fraction)
        return out


def test_pipeline_end_to_end_reports_monotone_progress_per_stage(tmp_path):
    rec = Recorder()
    res = run_pipeline(tiny_lm(), _config(tmp_path), rec.progress, rec.cancelled)
    stages = [s for s, _, _ in rec.reports]
    assert [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]] == list(STAGES)  # in order, once each
    for stage, fractions in rec.by_stage().items():
        assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] == 1.0, (stage, fractions)
    sae = load_sae(res.out)
    assert sae.cfg.d_sae == 128 and sae.cfg.k == 4 and sae.stats is not None
    assert sae.cfg.metadata["context_size"] == 32 and sae.cfg.metadata["typical_norm"] > 0
    assert res.dictionary is not None and len(res.dictionary) == 128
    np.testing.assert_array_equal(sae.stats.max_activation, res.dictionary.a["max_activation"])
    assert json.loads((res.out / "eval.json").read_text()) == res.evaluation
    assert 0 < res.evaluation["l0"] <= 4 and res.evaluation["explained_variance"] > 0.3


def test_cancel_mid_training_raises_and_a_rerun_resumes(tmp_path):
    cfg = _config(tmp_path, dictionary=False)
    rec = Recorder(cancel_when=lambda stage, fraction: stage == "train")
    with pytest.raises(Cancelled) as e:
        run_pipeline(tiny_lm(), cfg, rec.progress, rec.cancelled)
    assert isinstance(e.value, DesktopSAEError) and "train" in str(e.value)
    cancelled_at = rec.by_stage()["train"][-1]
    assert cancelled_at < 1 and "dictionary" not in rec.by_stage() and not (tmp_path / "sae" / "cfg.json").exists()
    _, meta = TopKTrainer.load_checkpoint(cfg.work_dir / cfg.run)
    assert 0 < meta["tokens"] < cfg.tokens

    again = Recorder()
    res = run_pipeline(tiny_lm(), cfg, again.progress, again.cancelled)
    collect = [r for s, _, r in again.reports if s == "collect"]
    assert len(collect) == 1 and collect[0].endswith("activations stored")  # complete store: nothing collected
    train = again.by_stage()["train"]
    assert train[0] > cancelled_at and train[-1] == 1.0  # continued from the checkpoint, not from step 0
    assert load_sae(res.out).cfg.metadata["training_tokens"] == cfg.tokens
