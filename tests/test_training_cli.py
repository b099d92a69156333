"""CLI smoke test on a tiny random model saved as a folder: train-sae (and resume), eval-sae, feature, features."""

import json

from desktop_sae.cli import main
from desktop_sae.core.sae.formats import load_sae
from tiny import TRAIN_TEXT, tiny_lm


def test_train_eval_feature_features(tmp_path, capsys):
    lm = tiny_lm()
    mdir = tmp_path / "model"
    lm.model.save_pretrained(mdir)
    lm.tokenizer.save_pretrained(mdir)
    corpus = tmp_path / "c.jsonl"
    sents = [s.strip() for s in TRAIN_TEXT.split(".") if s.strip()]
    corpus.write_text("\n".join(json.dumps({"text": f"{sents[i % len(sents)]} {i}. " * 6}) for i in range(200)))
    out = tmp_path / "sae"
    args = ["train-sae", "--model", str(mdir), "--corpus", str(corpus), "--hook", "blocks.1.hook_resid_post",
            "--width", "128", "--k", "4", "--tokens", "8192", "--batch-size", "256", "--ctx", "32",
            "--held-out", "0.2", "--eval-tokens", "512", "--out", str(out)]
    assert main(args) == 0
    sae = load_sae(out)
    assert sae.cfg.architecture == "topk" and sae.cfg.d_sae == 128 and sae.cfg.k == 4
    assert sae.stats is not None and sae.cfg.metadata["typical_norm"] > 0
    ev = json.loads((out / "eval.json").read_text())
    assert 0 < ev["l0"] <= 4 and ev["explained_variance"] > 0.3
    assert main(args) == 0  # everything is done: resumes instantly and rewrites the same SAE
    capsys.readouterr()

    assert main(["eval-sae", str(out), "--model", str(mdir), "--json", "--tokens", "256"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"ce_loss_recovered", "delta_loss", "explained_variance", "dead_fraction"} <= set(res)

    f = int(sae.stats.density.argmax())
    assert main(["feature", str(f), "--sae", str(out), "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["id"] == f and entry["top_examples"]

    assert main(["features", "--model", str(mdir), "--sae", str(out), "--text", "the quick brown fox", "--json",
                 "--top", "5"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert 0 < len(res["features"]) <= 5
    maxes = [r["max"] for r in res["features"]]
    assert maxes == sorted(maxes, reverse=True)
    assert "<|im_start|>" not in res["tokens"]
    assert "demo" not in entry  # demo concepts belong to the bundled SAE only


def test_feature_command_names_the_demo_concept_of_a_bundled_feature(capsys):
    from desktop_sae.core.support.paths import default_sae_dir, resources_dir

    concept = json.loads((resources_dir() / "demo_features.json").read_text())["concepts"][0]
    assert main(["feature", str(concept["feature"]), "--sae", str(default_sae_dir()), "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["id"] == concept["feature"] and entry["demo"] == f"demo set: {concept['label']}"
