"""The command line, on a tiny model folder and a tiny SAE."""

import json

import pytest

from desktop_sae import __version__
from desktop_sae.cli import main
from desktop_sae.core.sae.formats import save_sae
from tiny import random_sae, tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    tiny_model("llama").save_pretrained(root / "model")
    tiny_tokenizer().save_pretrained(root / "model")
    save_sae(random_sae(model_name="model"), root / "sae")
    return root


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and __version__ in capsys.readouterr().out


def test_info_json(files, capsys):
    code, out, _ = run(capsys, "info", "--model", str(files / "model"), "--sae", str(files / "sae"), "--json")
    assert code == 0
    d = json.loads(out)
    assert d["model"]["layers"] == 3 and d["model"]["width"] == 64 and d["model"]["device"] == "cpu"
    assert d["sae"]["architecture"] == "topk" and d["sae"]["d_sae"] == 256 and d["sae"]["format"] == "saelens"
    assert d["sae"]["hook"] == "blocks.1.hook_resid_post"


def test_info_text(files, capsys):
    code, out, _ = run(capsys, "info", "--model", str(files / "model"), "--sae", str(files / "sae"))
    assert code == 0 and "3 layers, width 64" in out and "d_in 64 -> d_sae 256" in out


def test_generate_json_with_steering_and_compare(files, capsys):
    code, out, _ = run(capsys, "generate", "--model", str(files / "model"), "--sae", str(files / "sae"),
                       "--prompt", "hello", "--steer", "5=30", "--steer", "7=2:clamp", "--max-tokens", "8",
                       "--temperature", "0", "--compare", "--json")
    assert code == 0
    d = json.loads(out)
    assert set(d) >= {"text", "tokens", "default_text", "steering"}
    assert len(d["tokens"]) == 8
    for t in d["tokens"]:
        assert isinstance(t["id"], int) and isinstance(t["text"], str)
        assert t["features"] and all(0 <= i < 256 and v > 0 for i, v in t["features"])
    assert [s["method"] for s in d["steering"]] == ["add", "clamp"]
    assert d["text"] != d["default_text"]


def test_generate_streams_text(files, capsys):
    code, out, err = run(capsys, "generate", "--model", str(files / "model"), "--sae", "none", "--prompt", "hello",
                         "--max-tokens", "5")
    assert code == 0 and out.strip() and "5 tokens" in err


@pytest.mark.parametrize("argv,msg", [
    (["--steer", "5=abc"], "bad --steer"),
    (["--steer", "999=1"], "feature 999 does not exist"),
    (["--steer", "5=2x"], "needs feature statistics"),
    (["--temperature", "-1"], "temperature must be >= 0"),
])
def test_generate_bad_input_exits_2_with_a_message(files, capsys, argv, msg):
    code, _, err = run(capsys, "generate", "--model", str(files / "model"), "--sae", str(files / "sae"),
                       "--prompt", "hi", "--max-tokens", "2", *argv)
    assert code == 2 and msg in err


def test_bad_sae_path(files, capsys):
    code, _, err = run(capsys, "info", "--model", str(files / "model"), "--sae", str(files / "nope"))
    assert code == 2 and "SAE not found" in err


def test_lessons_command_lists_and_checks(capsys, tmp_path):
    import json

    from desktop_sae.cli import main

    assert main(["lessons", "--json"]) == 0
    ids = {r["id"] for r in json.loads(capsys.readouterr().out)["lessons"]}
    assert {"black-boxes", "superposition", "finding-features", "steering"} <= ids
    bad = tmp_path / "x.json"
    bad.write_text('{"schema": 1, "id": "x"}')
    assert main(["lessons", "--check", str(bad)]) == 1
    assert "x.json" in capsys.readouterr().err


def test_model_options_count_before_or_after_the_subcommand():
    """``desktop-sae --sae DIR eval-steering`` used to fall back to the bundled SAE: the subcommand's own option
    default overwrote the top-level value."""
    from desktop_sae.cli import build_parser

    p = build_parser()
    a = p.parse_args(["--sae", "my_sae", "--dtype", "int8", "eval-steering", "--concept", "music"])
    assert (a.sae, a.dtype) == ("my_sae", "int8")
    a = p.parse_args(["eval-steering", "--sae", "my_sae", "--concept", "music"])
    assert a.sae == "my_sae" and a.dtype is None and a.trust_remote_code is False
    a = p.parse_args(["--model", "top", "generate", "--model", "sub", "--prompt", "hi"])
    assert a.model == "sub"  # the later, closer one wins
    a = p.parse_args(["info"])
    assert (a.model, a.sae, a.hook, a.device) == (None, None, None, None)
    from desktop_sae.cli.common import opted_into_remote_code

    assert not opted_into_remote_code(a)
    assert opted_into_remote_code(p.parse_args(["--trust-remote-code", "info"]))
    assert opted_into_remote_code(p.parse_args(["info", "--trust-remote-code"]))
