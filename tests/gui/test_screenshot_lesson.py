"""`desktop-sae screenshot --lesson ID --step N`: the window at a lesson step after its action, saved as a PNG."""

from PySide6.QtGui import QImage

from desktop_sae.cli import main
from desktop_sae.core.sae.formats import save_sae
from tiny import random_sae, tiny_model, tiny_tokenizer, with_stats


def _tiny_model_and_sae(tmp_path) -> None:
    """A tiny Llama in ``tmp_path/model`` and a random SAE with statistics in ``tmp_path/sae``."""
    tok = tiny_tokenizer()
    tiny_model("llama", len(tok)).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    save_sae(with_stats(random_sae(model_name="model")), tmp_path / "sae")


def test_a_lesson_step_is_rendered_after_its_action(tmp_path, capsys):
    _tiny_model_and_sae(tmp_path)
    out = tmp_path / "step.png"
    base = ["screenshot", str(out), "--model", str(tmp_path / "model"), "--sae", str(tmp_path / "sae"),
            "--size", "1600x900", "--lesson", "finding-features"]
    assert main([*base, "--step", "2"]) == 0
    said = capsys.readouterr().out
    assert "step 2 'A secret'" in said and out.exists()
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1600, 900)
    assert main([*base, "--step", "99"]) == 2
    assert "the lesson has steps 1 to 9" in capsys.readouterr().err
    assert main([*base[:-1], "no-such-lesson"]) == 2
    assert "no lesson named" in capsys.readouterr().err


def test_a_chat_screenshot_shows_the_pinned_feature_in_the_dashboard(tmp_path, capsys):
    _tiny_model_and_sae(tmp_path)
    base = ["screenshot", str(tmp_path / "chat.png"), "--model", str(tmp_path / "model"), "--sae",
            str(tmp_path / "sae"), "--prompt", "hello there", "--max-tokens", "4"]
    assert main([*base, "--pin", "7", "--pin", "3"]) == 0
    assert "(dashboard: #7)" in capsys.readouterr().out
    assert main(base) == 0  # nothing pinned: the most active feature of the answer
    said = capsys.readouterr().out
    assert "(dashboard: #" in said and QImage(str(tmp_path / "chat.png")).width() > 0


def test_a_graph_screenshot_after_why_this_token_and_an_ablation(tmp_path, capsys):
    _tiny_model_and_sae(tmp_path)
    save_sae(with_stats(random_sae(hook="blocks.0.hook_resid_post", seed=3, model_name="model")),
             tmp_path / "sae-depths" / "L00")
    base = ["screenshot", str(tmp_path / "graph.png"), "--model", str(tmp_path / "model"), "--sae",
            str(tmp_path / "sae"), "--prompt", "hello there", "--max-tokens", "4", "--seed", "1"]
    assert main([*base, "--why", "#2", "--ablate"]) == 0
    said = capsys.readouterr().out
    assert "saved" in said and "nodes" in said and "ablated" in said and "actual" in said
    img = QImage(str(tmp_path / "graph.png"))
    assert img.width() > 200 and img.height() > 200
    assert main([*base, "--why", "no such token here"]) == 2
    assert "no answer token" in capsys.readouterr().err


def test_a_directory_screenshot_filters_the_sae_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DESKTOP_SAE_SAELENS_DIRECTORY", "none")  # the built-in subset only
    _tiny_model_and_sae(tmp_path)
    out = tmp_path / "dir.png"
    base = ["screenshot", str(out), "--model", str(tmp_path / "model"), "--sae", str(tmp_path / "sae"),
            "--size", "1000x600"]
    assert main([*base, "--directory", "gemma-scope-2-270m-it-res"]) == 0
    said = capsys.readouterr().out
    assert "match 'gemma-scope-2-270m-it-res'" in said and "1 model" in said
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1000, 600)
