"""The steering evaluation's model-side measures on the tiny model, against manual computations; the protocol's
split discipline; and an end-to-end run of ``desktop-sae eval-steering --json`` on tiny files."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from desktop_sae.cli import main
from desktop_sae.core.engine.session import Session
from desktop_sae.core.steer_eval import data, evaluate
from desktop_sae.core.steer_eval.answers import Measured
from desktop_sae.core.steer_eval.reading import answer_logprobs, feature_reread, kl_along, mean_nll, relevance
from desktop_sae.core.steer_eval.scoring import harmonic_mean
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from tiny import random_sae, tiny_lm, tiny_model, tiny_tokenizer, with_stats

RES = Path(__file__).resolve().parents[1] / "resources"


@pytest.fixture(scope="module")
def session():
    return Session(tiny_lm(), with_stats(random_sae()))


def test_answer_nll_matches_a_manual_log_softmax_sum(session):
    prefix = session.prompt_ids("hello there")
    answer = [40, 41, 97, 120, 7]
    got = answer_logprobs(session, prefix, answer)
    manual = []
    with torch.no_grad():
        for t in range(len(answer)):
            logits = session.lm.model(input_ids=torch.tensor([prefix + answer[:t]])).logits[0, -1].double()
            manual.append(float(logits[answer[t]] - torch.logsumexp(logits, 0)))
    assert got == pytest.approx(manual, abs=1e-4)
    assert mean_nll(got) == pytest.approx(-sum(manual) / len(manual), abs=1e-4)
    assert np.isnan(mean_nll(answer_logprobs(session, prefix, [])))


def test_relevance_sign_flips_when_the_prompts_swap(session):
    assert relevance(np.array([-1.0, -1.0]), np.array([-2.0, -3.0])) == pytest.approx(1.5)
    assert relevance(np.array([-2.0]), np.array([-1.0])) < 0
    a = [40, 41, 97, 120]
    lp1 = answer_logprobs(session, session.prompt_ids("the quick brown fox"), a)
    lp2 = answer_logprobs(session, session.prompt_ids("secrets are kept in a safe"), a)
    assert relevance(lp1, lp2) == pytest.approx(-relevance(lp2, lp1)) and relevance(lp1, lp2) != 0


def test_feature_reread_is_the_answers_max_activation_over_max(session):
    text = "a bridge in san francisco is golden"
    _, ids, acts = session.encode_text(text)
    keep = [i for i, t in enumerate(ids) if t not in session.special_ids]
    f = int(acts[keep].max(0).argmax())
    assert feature_reread(session, text, [f]) == pytest.approx(float(acts[keep, f].max()) / 2.0, rel=1e-5)
    assert feature_reread(session, "   ", [f]) == 0.0


def test_a_weighted_set_reads_back_as_the_weighted_mean_of_its_members(session):
    text = "a bridge in san francisco is golden"
    ids = session.prompt_ids(text, chat=False)
    keep = [i for i, t in enumerate(ids) if t not in session.special_ids]
    acts = session.sae.encode(session.activations(ids)).float()[keep].numpy()
    mx = np.asarray(session.sae.stats.max_activation, np.float64)
    feats = [int(f) for f in np.argsort(-acts.max(0))[:3]]
    rel = acts[:, feats] / mx[feats]
    want = float((rel @ np.array([1.0, 0.5, 0.25]) / 1.75).max())
    assert feature_reread(session, text, feats, (1.0, 0.5, 0.25)) == pytest.approx(want, rel=1e-5)
    assert feature_reread(session, text, feats) == pytest.approx(float(rel.max()), rel=1e-5)
    assert want < float(rel.max())  # a set fires less easily than its loudest member


def test_kl_is_zero_without_steering_and_grows_with_strength(session):
    prefix, answer = session.prompt_ids("hello"), [40, 41, 97, 120]
    kl0 = kl_along(session, prefix, answer, SteeringConfig((SteerSpec(5, 0.0),)))
    kl1 = kl_along(session, prefix, answer, SteeringConfig((SteerSpec(5, 5.0),)))
    kl2 = kl_along(session, prefix, answer, SteeringConfig((SteerSpec(5, 50.0),)))
    assert len(kl0) == 4 and np.allclose(kl0, 0, atol=1e-6)
    assert (kl1 >= 0).all() and kl2.mean() > kl1.mean() > 1e-6


def test_the_strength_is_chosen_on_the_selection_split_only(monkeypatch):
    """Fake answers: on selection prompts strength 1 hits the concept, on report prompts strength 4 would; the
    chosen strength must be 1 and the report must measure only that."""
    splits = data.Splits(("s1", "s2"), ("r1", "r2"))

    def fake_generate(session, prompts, seeds, n, steering, system, batch, cancel, on_done):
        s = steering.features[0].strength if steering.active else 0.0
        return [SimpleNamespace(text=f"{p}|{s:g}", answer_ids=(1, 2, 3)) for p in prompts for _ in seeds]

    def fake_measure(session, prompts, i, seed, res, pattern, features, frac, weights=()):
        prompt, s = res.text.split("|")
        hit = (prompt.startswith("s") and s == "1") or (prompt.startswith("r") and s == "4")
        return Measured(i, seed, res.text, 3, ("kw",) if hit else (), 0.0, False, 1.0, 0.5, False)

    monkeypatch.setattr(evaluate, "generate_answers", fake_generate)
    monkeypatch.setattr(evaluate, "measure_answers", lambda session, prompts, items, pattern, features, frac, w: [
        fake_measure(session, prompts, i, seed, r, pattern, features, frac) for i, seed, r in items])
    monkeypatch.setattr(evaluate, "neutral_texts", lambda: ())
    monkeypatch.setattr(evaluate, "steer_norm", lambda s, st: 1.0)
    concept = data.adhoc_concept([3], ["kw"])
    res = evaluate.evaluate_steering(None, concept, splits, evaluate.EvalSettings(
        strengths=(1.0, 4.0), fluency_threshold=2.0, baselines=False))
    sel = {r["strength"]: r["combined"] for r in res["selection"]["feature"]}
    assert sel[1.0] > sel[4.0] == 0 and res["chosen"]["feature"] == 1.0
    rep = res["report"]["feature"]
    assert rep["strength"] == 1.0 and rep["concept"] == 0.0 and rep["combined"] == 0.0
    assert all(a["text"].endswith("|1") for a in rep["answers"])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalcli")
    tiny_model("llama").save_pretrained(root / "model")
    tiny_tokenizer().save_pretrained(root / "model")
    from desktop_sae.core.sae.formats import save_sae

    save_sae(with_stats(random_sae(model_name="model")), root / "sae")
    (root / "texts.txt").write_text("a bridge in san francisco is golden\nthe golden bridge over the bay\n")
    return root


def test_eval_steering_cli_end_to_end_json(files, capsys, monkeypatch):
    monkeypatch.setattr(data, "resources_dir", lambda: RES)
    out_file = files / "res.json"
    code = main(["eval-steering", "--model", str(files / "model"), "--sae", str(files / "sae"), "--feature", "5",
                 "--keywords", "bridge,golden", "--texts", str(files / "texts.txt"), "--strengths", "1,64",
                 "--n-prompts", "2", "--seeds", "1", "--max-tokens", "4", "--json", "--out", str(out_file)])
    out, _ = capsys.readouterr()
    assert code == 0
    res = json.loads(out)
    assert json.loads(out_file.read_text()) == res
    assert len(res["splits"]["selection"]) == 2 and not set(res["splits"]["selection"]) & set(res["splits"]["report"])
    rows = res["selection"]["feature"]
    assert [r["strength"] for r in rows] == [1.0, 64.0] and all(r["n"] == 2 for r in rows)
    best = max(rows, key=lambda r: (r["combined"], -r["strength"]))
    assert res["chosen"]["feature"] == best["strength"]
    assert set(res["report"]) == {"default", "feature", "prompting", "mean_difference"}
    assert res["report"]["prompting"]["system"] == "Talk about bridge, golden."
    md = res["selection"]["mean_difference"]
    assert md[1]["raw"] == pytest.approx(64 * md[0]["raw"], rel=1e-4)  # matched norm scales with the strength
    assert rows[1]["steer_norm"] == pytest.approx(64 * rows[0]["steer_norm"], rel=1e-4)
    for a in rows[1]["answers"] + res["report"]["default"]["answers"]:
        assert a["combined"] == pytest.approx(harmonic_mean([a["concept"], a["fluency"], a["relevance"]]))
    steered = [a["text"] for a in rows[1]["answers"]]
    default = [a["text"] for a in res["selection"]["default"]["answers"]]
    assert steered != default  # 64 x max activation moves the tiny model
    assert len(res["examples"]) == 2 and res["references"]["report"]["threshold"] > 0


def test_eval_steering_refuses_bad_input(files, capsys, monkeypatch):
    monkeypatch.setattr(data, "resources_dir", lambda: RES)
    base = ["eval-steering", "--model", str(files / "model"), "--sae", str(files / "sae")]
    assert main(base + ["--feature", "5"]) == 2 and "--keywords" in capsys.readouterr().err
    assert main(base + ["--feature", "999", "--keywords", "a"]) == 2 and "out of range" in capsys.readouterr().err
    assert main(base + ["--concept", "nope"]) == 2 and "golden_gate" in capsys.readouterr().err
    assert main(base + ["--feature", "5", "--keywords", "a", "--strengths", "x"]) == 2


def test_batched_and_one_at_a_time_evaluations_agree(files, capsys, monkeypatch):
    """Sampled answers from the same seeds on the tiny model (fp32): batched, the evaluation gives the same answers
    and figures."""
    monkeypatch.setattr(data, "resources_dir", lambda: RES)
    runs = []
    for batch in ("1", "5"):
        assert main(["eval-steering", "--model", str(files / "model"), "--sae", str(files / "sae"), "--feature", "5",
                     "--keywords", "bridge,golden", "--strengths", "8", "--n-prompts", "3", "--seeds", "0,1",
                     "--max-tokens", "6", "--no-baselines", "--batch", batch, "--json"]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    one, many = runs
    assert one["settings"]["batch"] == 1 and many["settings"]["batch"] == 5
    for split in ("selection", "report"):
        a = one[split]["default"] if split == "selection" else one["report"]["feature"]
        b = many[split]["default"] if split == "selection" else many["report"]["feature"]
        assert [x["text"] for x in a["answers"]] == [x["text"] for x in b["answers"]]
        assert a["nll_mean"] == pytest.approx(b["nll_mean"], rel=1e-5)
