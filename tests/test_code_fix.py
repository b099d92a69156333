"""The code-fix evaluation: taking code out of answers, the isolated runner (pass, fail, timeout, syntax error, no
inherited secrets), the shipped snippets (each buggy version fails its test, each fixed version passes), the
fix-rate arithmetic and split discipline on injected answers, and the generation plumbing on the tiny model."""

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from desktop_sae.cli import main
from desktop_sae.core.engine.session import Session
from desktop_sae.core.steer_eval import code_fix
from desktop_sae.core.steer_eval.code_fix import (
    Attempt,
    FixSettings,
    Snippet,
    evaluate_code_fix,
    fix_prompt,
    fix_rate,
    load_snippets,
    paired,
    sign_test,
)
from desktop_sae.core.steer_eval.code_run import check_answer, code_closed, defines, extract_code, run_with_test
from tiny import random_sae, tiny_lm, tiny_model, tiny_tokenizer, with_stats

RES = Path(__file__).resolve().parents[1] / "resources"
SNIPPETS = RES / "steer_eval" / "buggy_snippets.jsonl"
ADD = "def add(a, b):\n    return a + b"
ADD_TEST = "assert add(2, 3) == 5\nassert add(-1, 1) == 0"
WRONG = "def add(a, b):\n    return a - b"


# --- extraction ---------------------------------------------------------------------------------------------------
def test_extracts_the_first_python_block():
    ans = f"Here is the fix:\n\n```python\n{ADD}\n```\n\nOr:\n```python\ndef add(a, b):\n    return 0\n```"
    assert extract_code(ans) == ADD


def test_extracts_an_unmarked_fence_and_prefers_python_over_other_languages():
    assert extract_code(f"Fixed:\n```\n{ADD}\n```") == ADD
    assert extract_code(f"```bash\npython x.py\n```\nthen\n```py\n{ADD}\n```") == ADD
    assert extract_code("```text\nhello\n```") == "hello"  # no python block: the first block


def test_an_unclosed_fence_runs_to_the_end_of_the_answer():
    assert extract_code(f"Sure.\n```python\n{ADD}\n") == ADD


def test_without_a_fence_the_def_and_its_indented_lines_are_taken():
    ans = f"The bug is the minus sign. Corrected:\n\n{ADD}\n\nThis returns the sum of a and b."
    assert extract_code(ans) == ADD
    assert extract_code("    def add(a, b):\n        return a + b\n") == ADD  # indented as a whole
    assert extract_code("The function should add, not subtract.") == ""


def test_an_answer_without_the_function_fails_without_running():
    code, r = check_answer("```python\ndef plus(a, b):\n    return a + b\n```", "add", ADD_TEST)
    assert code.startswith("def plus") and not r.passed and r.reason == "no function"
    assert check_answer("I cannot help with that.", "add", ADD_TEST)[1].reason == "no code"
    assert check_answer("```python\ndef add(a, b) return\n```", "add", ADD_TEST)[1].reason == "syntax error"
    assert defines(ADD, "add") and not defines("x = add", "add") and not defines("def add(:", "add")


def test_generation_stops_once_the_python_block_is_closed():
    assert not code_closed("Sure:\n```python\ndef add(a, b):\n") and not code_closed("```py")
    assert code_closed(f"Sure:\n```python\n{ADD}\n```") and code_closed(f"```\n{ADD}\n```\nmore")
    assert not code_closed("```bash\nls\n```\n")  # another language: go on
    pieces = ["Fix:\n", "```", "python\n", ADD, "\n``", "`", "\nThis adds.", " More."]

    class FakeSession:
        def generate(self, prompt, sampling, steering, system=None, cancel=None, on_token=None):
            out = []
            for p in pieces:
                if cancel():
                    break
                out.append(p)
                on_token(SimpleNamespace(delta=p))
            return SimpleNamespace(text="".join(out), answer_ids=tuple(range(len(out))))

    run = code_fix._Runner(FakeSession(), FixSettings(nll=False), 1, None, None)
    assert run.generate("p", 0, code_fix.NO_STEERING).text == f"Fix:\n```python\n{ADD}\n```"
    run = code_fix._Runner(FakeSession(), FixSettings(nll=False, stop_after_code=False), 1, None, None)
    assert run.generate("p", 0, code_fix.NO_STEERING).text.endswith("More.")
    run = code_fix._Runner(FakeSession(), FixSettings(nll=False), 1, None, lambda: True)
    with pytest.raises(InterruptedError):
        run.generate("p", 0, code_fix.NO_STEERING)


# --- the runner ---------------------------------------------------------------------------------------------------
def test_a_correct_fix_passes_and_a_wrong_one_fails():
    assert run_with_test(ADD, ADD_TEST).passed
    r = run_with_test("def add(a, b):\n    return a - b", ADD_TEST)
    assert not r.passed and r.reason == "failed" and r.returncode == 1 and "AssertionError" in r.output
    assert check_answer(f"```python\n{ADD}\n```", "add", ADD_TEST)[1].passed


def test_an_infinite_loop_is_killed_within_the_timeout():
    t = time.perf_counter()
    r = run_with_test("def add(a, b):\n    while True:\n        pass", ADD_TEST, timeout=1.0)
    assert not r.passed and r.reason == "timeout"
    assert time.perf_counter() - t < 4.0


def test_a_syntax_error_fails():
    r = run_with_test("def add(a, b):\n    return a +", ADD_TEST)
    assert not r.passed and r.reason == "syntax error"


def test_the_check_does_not_see_the_parents_environment(monkeypatch):
    monkeypatch.setenv("DESKTOP_SAE_TEST_SECRET", "hunter2")
    code = "import os\nSEEN = dict(os.environ)\ndef add(a, b):\n    return a + b"
    test = "assert 'DESKTOP_SAE_TEST_SECRET' not in SEEN\nassert 'hunter2' not in str(SEEN)\n" + ADD_TEST
    assert run_with_test(code, test).passed
    leak = "import os\nassert os.environ.get('DESKTOP_SAE_TEST_SECRET') == 'hunter2'"
    assert not run_with_test(leak, "").passed


def test_exiting_early_with_status_0_does_not_pass_and_the_stdlib_is_there():
    assert not run_with_test("import sys\nsys.exit(0)", "assert False").passed
    assert not run_with_test("import os\nos._exit(0)", "assert False").passed
    code = "import json, math, collections\ndef add(a, b):\n    return math.fsum([a, b])"
    assert run_with_test(code, ADD_TEST).passed


def test_stdin_is_closed():
    r = run_with_test("def add(a, b):\n    return int(input())", ADD_TEST)
    assert not r.passed and "EOFError" in r.output


# --- the shipped snippets -----------------------------------------------------------------------------------------
def test_every_shipped_snippet_fails_buggy_and_passes_fixed():
    snips = load_snippets(SNIPPETS)
    assert len(snips) >= 24
    sel = [s for s in snips if s.split == "selection"]
    rep = [s for s in snips if s.split == "report"]
    assert len(sel) >= 12 and len(rep) >= 12 and not {s.id for s in sel} & {s.id for s in rep}
    for s in snips:
        assert 3 <= len(s.code.splitlines()) <= 12 and s.bug and s.fixed, s.id
        assert s.name == code_fix.function_name(s.fixed), s.id
        assert not run_with_test(s.code, s.test).passed, f"{s.id}: the buggy code passes its test"
        assert run_with_test(s.fixed, s.test).passed, f"{s.id}: the fixed code fails its test"


def test_load_snippets_refuses_bad_files(tmp_path):
    good = {"id": "a", "split": "selection", "code": ADD, "test": ADD_TEST}
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(ValueError, match="unique"):
        load_snippets(p)
    p.write_text(json.dumps({**good, "split": "train"}) + "\n")
    with pytest.raises(ValueError, match="split"):
        load_snippets(p)
    p.write_text(json.dumps({**good, "code": "x = 1"}) + "\n")
    with pytest.raises(ValueError, match="not a snippet"):
        load_snippets(p)


# --- arithmetic on injected answers ---------------------------------------------------------------------------------
def _att(sn, seed, ok):
    return Attempt(sn, seed, "", "", ok, "pass" if ok else "failed", 3, 1.0)


def test_fix_rate_paired_counts_and_sign_test():
    d = [_att("a", 0, True), _att("b", 0, False), _att("c", 0, False), _att("d", 0, True)]
    s = [_att("a", 0, True), _att("b", 0, True), _att("c", 0, True), _att("d", 0, False)]
    assert fix_rate(d)["fixed"] == 2 and fix_rate(s)["rate"] == 0.75 and fix_rate(s)["reasons"] == {"pass": 3,
                                                                                                     "failed": 1}
    p = paired(d, s)
    assert (p["pairs"], p["both"], p["only_steered"], p["only_default"], p["neither"]) == (4, 1, 2, 1, 0)
    assert sign_test(0, 0) == 1.0 and sign_test(5, 0) == pytest.approx(2 / 32) and sign_test(2, 1) == 1.0
    assert sign_test(8, 1) == pytest.approx(2 * (1 + 9) / 512)


def test_strength_is_chosen_on_selection_and_only_it_is_reported(monkeypatch):
    """Injected answers: on selection snippets strength -1 fixes, on report snippets only -4 would; -1 must be
    chosen and the report must measure only it and the default."""
    snips = [Snippet(f"s{i}", "selection", "", ADD, ADD_TEST) for i in range(2)]
    snips += [Snippet(f"r{i}", "report", "", ADD, ADD_TEST) for i in range(3)]
    by_prompt = {}
    seen = []

    def fake_generate(session, prompt, seed, n, steering, system=None, cancel=None, **kw):
        s = steering.features[0].strength if steering.active else 0.0
        sid = by_prompt[prompt]
        seen.append((sid, s, seed, kw["temperature"]))
        good = (sid.startswith("s") and s == -1.0) or (sid.startswith("r") and s == -4.0) or (sid, s) == ("r0", 0)
        return SimpleNamespace(text=f"```python\n{ADD if good else WRONG}\n```", answer_ids=(1, 2))

    # every snippet has the same code; tell them apart by a comment in the prompt
    snips = [Snippet(s.id, s.split, "", f"# {s.id}\n{ADD}", ADD_TEST) for s in snips]
    for s in snips:
        by_prompt[fix_prompt(s.code)] = s.id
    monkeypatch.setattr(code_fix, "generate_answer", fake_generate)
    cfg = FixSettings(features=(7,), strengths=(-1.0, -4.0), seeds=(0, 1), nll=False, timeout=5.0)
    res = evaluate_code_fix(None, snips, cfg)
    rows = {r["strength"]: r for r in res["selection"]["steered"]}
    assert rows[-1.0]["fixed"] == 4 and rows[-4.0]["fixed"] == 0 and res["selection"]["default"]["fixed"] == 0
    assert res["chosen"]["feature"] == 7 and res["chosen"]["strength"] == -1.0
    rep = res["report"]
    assert rep["steered"]["strength"] == -1.0 and rep["steered"]["fixed"] == 0 and rep["steered"]["n"] == 6
    assert rep["default"]["fixed"] == 2 and rep["default"]["rate"] == pytest.approx(2 / 6)
    assert rep["paired"]["only_default"] == 2 and rep["paired"]["only_steered"] == 0
    assert rep["per_snippet"]["r0"] == {"default": 2, "steered": 0}
    assert not any(sid.startswith("r") and s == -4.0 for sid, s, _, _ in seen)  # never tried on the report half
    assert len(seen) == 2 * 2 * 3 + 3 * 2 * 2 and {t for *_, t in seen} == {0.5}
    assert res["examples"][0]["default_passed"] and not res["examples"][0]["steered_passed"]


# --- the real generation path on the tiny model ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("codefix")
    tiny_model("llama").save_pretrained(root / "model")
    tiny_tokenizer().save_pretrained(root / "model")
    from desktop_sae.core.sae.formats import save_sae

    save_sae(with_stats(random_sae(model_name="model")), root / "sae")
    lines = [json.loads(x) for x in SNIPPETS.read_text().splitlines()]
    sel = next(x for x in lines if x["split"] == "selection")
    rep = next(x for x in lines if x["split"] == "report")
    (root / "snips.jsonl").write_text(json.dumps(sel) + "\n" + json.dumps(rep) + "\n")
    return root


def test_generation_plumbing_on_the_tiny_model(files):
    session = Session(tiny_lm(), with_stats(random_sae()))
    snips = load_snippets(files / "snips.jsonl")
    cfg = FixSettings(features=(5,), strengths=(-8.0,), seeds=(0,), max_new_tokens=6)
    res = evaluate_code_fix(session, snips, cfg)
    row = res["selection"]["steered"][0]
    assert row["n"] == 1 and res["report"]["default"]["n"] == 1 and res["report"]["steered"]["n"] == 1
    a = row["answers"][0]
    assert a["n_tokens"] <= 6 and a["nll"] > 0 and not a["passed"]  # a random model fixes nothing
    assert a["text"] != res["selection"]["default"]["answers"][0]["text"]  # -8 x max moves the tiny model


def test_cli_fix_code_json(files, capsys):
    out_file = files / "res.json"
    code = main(["eval-steering", "--fix-code", "--model", str(files / "model"), "--sae", str(files / "sae"),
                 "--feature", "5", "3", "--strengths=-2", "--seeds", "1", "--max-tokens", "4",
                 "--snippets", str(files / "snips.jsonl"), "--json", "--out", str(out_file)])
    out, _ = capsys.readouterr()
    assert code == 0
    res = json.loads(out)
    assert json.loads(out_file.read_text()) == res
    assert [(r["feature"], r["strength"]) for r in res["selection"]["steered"]] == [(5, -2.0), (3, -2.0)]
    assert res["settings"]["max_new_tokens"] == 4 and res["settings"]["seeds"] == [0]
    assert res["chosen"]["strength"] == -2.0 and res["report"]["steered"]["n"] == 1
    demo = files / "demo.json"
    demo.write_text(json.dumps({"concepts": [{"concept": "bugs", "feature": 5}]}))
    assert main(["eval-steering", "--fix-code", "--model", str(files / "model"), "--sae", str(files / "sae"),
                 "--feature", "5", "--strengths=-2", "--seeds", "1", "--max-tokens", "4",
                 "--snippets", str(files / "snips.jsonl"), "--record", str(demo)]) == 0
    capsys.readouterr()
    doc = json.loads(demo.read_text())
    assert doc["concepts"] == [{"concept": "bugs", "feature": 5}]  # the rest is kept
    rec = doc["code_fix"]
    assert rec["chosen"] == {"feature": 5, "strength": -2.0} and rec["split"]["selection"] == 1
    assert rec["report"]["default"]["n"] == 1 and rec["seeds"] == [0] and "--fix-code --feature 5" in rec["command"]
    base = ["eval-steering", "--model", str(files / "model"), "--sae", str(files / "sae")]
    assert main(base) == 2 and "--fix-code" in capsys.readouterr().err
    assert main(base + ["--fix-code", "--feature", "999", "--snippets", str(files / "snips.jsonl")]) == 2
    assert "out of range" in capsys.readouterr().err


# --- the default feature is the bundled SAE's code-error feature --------------------------------------------------
def test_the_default_feature_is_the_one_the_shipped_record_measured_and_a_member_of_the_bugs_set():
    from desktop_sae.core.steer_eval.data import load_concept

    doc = json.loads((RES / "demo_features.json").read_text())
    assert FixSettings().features == (doc["code_fix"]["chosen"]["feature"],)
    (f,) = FixSettings().features
    assert f in load_concept("bugs").features  # the code-error set of the shipped SAE, not a feature of an older one
    assert code_fix.recorded_features(RES.parent / "nowhere") == ()


@pytest.mark.integration
def test_the_default_feature_is_live_in_the_shipped_sae_and_fires_on_error_text(bundled_lm):
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.support.paths import default_sae_dir

    (f,) = FixSettings().features
    session = Session(bundled_lm, load_sae(default_sae_dir()))
    stats = session.sae.stats
    assert stats.density[f] > 0 and stats.max_activation[f] > 0  # live: it fired in the SAE's training scan
    error = ('Traceback (most recent call last):\n  File "main.py", line 3, in <module>\n    total = "3" + 4\n'
             'TypeError: can only concatenate str (not "int") to str')
    plain = "We walked along the river and had a picnic under the old oak tree in the afternoon sun."
    on_error = float(session.encode_text(error)[2][:, f].max())
    on_plain = float(session.encode_text(plain)[2][:, f].max())
    assert on_error > 0.2 * float(stats.max_activation[f]) and on_error > 2 * on_plain, (on_error, on_plain)
