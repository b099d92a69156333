"""``desktop-sae explain`` and ``score-explanations`` on a tiny model folder, a tiny SAE and a fake chat server:
estimate and progress on stderr, Ctrl-C keeps what is done, a second run resumes, the summary table."""

import json
import os
import re
import signal

import numpy as np
import pytest

from desktop_sae.cli import main
from desktop_sae.core.explanations import protocol
from desktop_sae.core.explanations.store import ExplanationStore, ScoreStore
from desktop_sae.core.sae.formats import save_sae
from fake_llm_server import FakeLLM
from tiny import TRAIN_TEXT, random_sae, tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_explain")
    tiny_model("llama").save_pretrained(root / "model")
    tiny_tokenizer().save_pretrained(root / "model")
    save_sae(random_sae(model_name="model"), root / "sae")
    words = TRAIN_TEXT.split()
    rng = np.random.default_rng(0)
    (root / "corpus.txt").write_text("\n".join(" ".join(rng.choice(words, size=30)) for _ in range(400)))
    return root


@pytest.fixture
def fake(monkeypatch):
    server = FakeLLM()
    monkeypatch.setenv("DESKTOP_SAE_LLM_URL", server.url)
    monkeypatch.setenv("DESKTOP_SAE_LLM_MODEL", "fake-cli")
    yield server
    server.close()


def test_explain_ctrl_c_resume_then_score(files, fake, capsys, tmp_path):
    base = ["--model", str(files / "model"), "--sae", str(files / "sae"), "--corpus", str(files / "corpus.txt"),
            "--windows", "300", "--out", str(tmp_path), "--parallel", "1", "--contexts", str(tmp_path / "ctx.npz")]
    fake.on_explain = lambda n: n == 3 and os.kill(os.getpid(), signal.SIGINT)
    assert main(["explain", *base, "--features", "0-99"]) == 0
    err = capsys.readouterr().err
    assert "stopped (run again to resume)" in err and "reading contexts" in err
    live = int(re.search(r"about (\d+) calls", err).group(1))  # the live features among the 100
    assert 10 < live < 100
    first = ExplanationStore.beside(tmp_path)
    assert len(first.explanations) == 3  # the call in flight finished, nothing after it
    fake.on_explain = None
    assert main(["explain", *base, "--features", "0-99", "--limit", "40"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"about \d+ calls", err) and "explaining done" in err
    assert "reading contexts" not in err  # the scanned contexts were reused from --contexts
    second = ExplanationStore.beside(tmp_path)
    assert set(first.explanations) < set(second.explanations) and max(fake.explained.values()) == 1
    assert all(e.explainer == "fake-cli" for e in second.explanations.values())
    assert main(["explain", *base, "--features", "0-99"]) == 0
    assert f"about {live - len(second.explanations)} calls" in capsys.readouterr().err
    assert len(ExplanationStore.beside(tmp_path).explanations) == live and max(fake.explained.values()) == 1

    code = main(["score-explanations", *base, "--features", "0-99", "--variants", "own,random_other", "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and "calls to" in err
    table = json.loads(out)
    scored = ScoreStore.beside(tmp_path)
    assert table["own"]["detection"]["features"] == len(scored.scores[next(iter(scored.scores))]) > 0
    assert 0 <= table["own"]["fuzzing"]["low"] <= table["own"]["fuzzing"]["mean"] <= table["own"]["fuzzing"]["high"]
    assert main(["score-explanations", *base, "--variants", "nonsense"]) == 2


def test_neuronpedia_explanations_import_and_export(files, capsys, tmp_path):
    entries = [{"modelId": "model", "layer": "1-res-tiny", "index": "7", "description": "foxes",
                "explanationModelName": "gpt-4o-mini", "typeName": "oai_token-act-pair"},
               {"modelId": "other-model", "layer": "1-res-tiny", "index": "8", "description": "not ours"}]
    (tmp_path / "np.json").write_text(json.dumps(entries))
    sae = ["--model", str(files / "model"), "--sae", str(files / "sae"), "--out", str(tmp_path)]
    assert main(["explanations", "export", str(tmp_path / "empty.json"), *sae]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "empty.json").read_text()) == []
    # the export names this SAE's ids; an import takes only entries for them
    code = main(["explanations", "import", str(tmp_path / "np.json"), *sae, "--any-source"])
    assert code == 0 and "2 explanations imported" in capsys.readouterr().err
    assert main(["explanations", "export", str(tmp_path / "out.json"), *sae]) == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert [(e["index"], e["description"], e["typeName"]) for e in out] == [
        ("7", "foxes", "oai_token-act-pair"), ("8", "not ours", "unknown")]
    mine = out[0]["modelId"], out[0]["layer"]
    (tmp_path / "np2.json").write_text(json.dumps([{**entries[0], "modelId": mine[0], "layer": mine[1],
                                                    "index": "9"}, {**entries[1], "index": "10"}]))
    fresh = tmp_path / "fresh"
    assert main(["explanations", "import", str(tmp_path / "np2.json"), *sae[:4], "--out", str(fresh)]) == 0
    assert set(ExplanationStore.beside(fresh).explanations) == {9}


def test_explaining_offline_prompts_out_answers_in(files, capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("DESKTOP_SAE_LLM_URL", raising=False)  # no endpoint is needed
    base = ["--model", str(files / "model"), "--sae", str(files / "sae"), "--corpus", str(files / "corpus.txt"),
            "--windows", "300", "--out", str(tmp_path), "--features", "0-29"]
    assert main(["explain", *base, "--write-prompts", str(tmp_path / "prompts.jsonl")]) == 0
    lines = [json.loads(x) for x in (tmp_path / "prompts.jsonl").read_text().splitlines()]
    assert 3 < len(lines) <= 30 and all(0 <= r["feature"] < 30 for r in lines)
    assert lines[0]["messages"][0]["role"] == "system" and "Strongest contexts" in lines[0]["messages"][1]["content"]
    answers = [{"feature": r["feature"], "answer": f"Explanation: pattern {r['feature']}"} for r in lines[:-1]]
    answers.append({"feature": lines[-1]["feature"], "answer": "I could not tell"})
    (tmp_path / "answers.jsonl").write_text("\n".join(map(json.dumps, answers)))
    assert main(["explain", *base, "--read-answers", str(tmp_path / "answers.jsonl")]) == 2  # needs --explainer
    capsys.readouterr()
    assert main(["explain", *base, "--read-answers", str(tmp_path / "answers.jsonl"), "--explainer", "helper-1"]) == 0
    assert f"{len(lines) - 1} explanations stored, 1 malformed" in capsys.readouterr().err
    store = ExplanationStore.beside(tmp_path)
    e = store.explanations[lines[0]["feature"]]
    assert (e.text, e.method, e.explainer) == (f"pattern {lines[0]['feature']}", "human", "helper-1")
    assert list(store.failures) == [lines[-1]["feature"]]
    # the next prompts file holds only what is left to do
    assert main(["explain", *base, "--write-prompts", str(tmp_path / "rest.jsonl")]) == 0
    assert [json.loads(x)["feature"] for x in (tmp_path / "rest.jsonl").read_text().splitlines()] == \
        [lines[-1]["feature"]]


def test_explain_and_score_offline_as_text_files(files, tmp_path, capsys, monkeypatch):
    """Plain-text prompts, N<TAB>answer lines from an agent, then blind scorer folders and their answers."""
    monkeypatch.delenv("DESKTOP_SAE_LLM_URL", raising=False)  # no endpoint is needed
    base = ["--model", str(files / "model"), "--sae", str(files / "sae"), "--corpus", str(files / "corpus.txt"),
            "--windows", "300", "--out", str(tmp_path), "--features", "0-40"]
    assert main(["explain", *base, "--write-prompts", str(tmp_path / "prompts.txt")]) == 0
    text = (tmp_path / "prompts.txt").read_text()
    feats = [int(n) for n in re.findall(r"^=== feature (\d+) ===$", text, re.M)]
    assert len(feats) > 6 and text.startswith("Protocol " + protocol.PROTOCOL_VERSION) and "Explanation:" in text
    (tmp_path / "a.tsv").write_text("".join(f"{f}\tExplanation: pattern {f}\n" for f in feats))
    assert main(["explain", *base, "--read-answers", str(tmp_path / "a.tsv"), "--explainer", "agent-1",
                 "--method", "agent"]) == 0
    store = ExplanationStore.beside(tmp_path)
    assert set(store.explanations) == set(feats) and store.explanations[feats[0]].method == "agent"
    cfg = json.loads((files / "sae" / "cfg.json").read_text())
    assert store.sae == {"d_sae": cfg["d_sae"], "hook_name": cfg["metadata"]["hook_name"], "windows": 300, "seed": 0,
                         "corpus": [str((files / "corpus.txt").resolve())]}
    blind = tmp_path / "blind"
    assert main(["score-explanations", *base, "--variants", "own,random_other", "--scorers", "2",
                 "--write-prompts", str(blind)]) == 0
    key = json.loads((blind / "key.json").read_text())["items"]
    for k in (1, 2):  # every scorer answers 1 for the examples it is shown ("yes to all")
        ids = re.findall(r"^=== (S\d-\d+) ", "".join(p.read_text() for p in (blind / f"S{k}").glob("part_*")), re.M)
        (blind / f"S{k}" / "answers.tsv").write_text("".join(f"{i}\t[{','.join('1' * len(key[i]['truths']))}]\n"
                                                              for i in ids))
    assert main(["score-explanations", *base, "--read-answers", str(blind)]) == 2  # needs --scorer
    capsys.readouterr()
    assert main(["score-explanations", *base, "--read-answers", str(blind), "--scorer", "agent S{k}"]) == 0
    assert "0 malformed" in capsys.readouterr().err
    scores = ScoreStore.beside(tmp_path)
    own = scores.scores[protocol.Variant.OWN]
    assert own and all(s.balanced_accuracy(protocol.Scorer.DETECTION) == 0.5 for s in own.values())
    assert {s.scorer for s in own.values()} <= {"agent S1", "agent S2"}
