"""``desktop-sae attribute`` on a tiny model folder with SAEs at two depths (one beside the SAE in its
``-depths`` folder): the JSON validates against the documented schema and reads back to the same graph; bad
targets get a clear message; the depth SAEs of another model are left out."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from desktop_sae.cli import main
from desktop_sae.core.attribution.graph_json import from_json, to_json
from desktop_sae.core.sae.formats import save_sae
from desktop_sae.core.support.paths import resources_dir
from tiny import random_sae, tiny_model, tiny_tokenizer, with_stats

SCHEMA = json.loads((resources_dir() / "schemas" / "attribution_graph.schema.json").read_text())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("attr_cli")
    tiny_model("llama").save_pretrained(root / "model")
    tiny_tokenizer().save_pretrained(root / "model")
    save_sae(with_stats(random_sae(hook="blocks.1.hook_resid_post", model_name="model")), root / "sae")
    save_sae(with_stats(random_sae(hook="blocks.0.hook_resid_post", seed=5, model_name="model")),
             root / "sae-depths" / "L00")
    return root


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_validates_and_reads_back(files, capsys, tmp_path):
    out_file = tmp_path / "g.json"
    code, out, err = run(capsys, "attribute", "--model", str(files / "model"), "--sae", str(files / "sae"),
                         "--prompt", "the quick brown fox", "--answer", "jumps over the", "--json",
                         "--check", "3", "--out", str(out_file))
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert json.loads(out_file.read_text()) == doc
    ours = doc["desktop_sae"]
    assert ours["depths"] == [0, 1] and ours["saes"] == ["L00", "loaded SAE"]
    assert ours["linearisation"] == "live"
    kinds = {n["kind"] for n in ours["nodes"]}
    assert kinds == {"token", "feature", "error", "target"}
    ids = {n["node_id"] for n in doc["nodes"]}
    assert all(link["source"] in ids and link["target"] in ids for link in doc["links"])
    assert len(ours["check"]["interventions"]) == 3
    g = from_json(doc)
    assert to_json(g, prompt=doc["metadata"]["prompt"])["links"] == doc["links"]
    assert [n.key for n in g.nodes] == [n["node_id"] for n in doc["nodes"]]


def test_alternative_token_and_table(files, capsys):
    tok = tiny_tokenizer()
    a, b = (tok.decode([i]) for i in tok.encode(" fox dog", add_special_tokens=False)[:2])
    code, out, err = run(capsys, "attribute", "--model", str(files / "model"), "--sae", str(files / "sae"),
                         "--prompt", "the quick brown", "--raw", "--target", a, "--alt", b)
    assert code == 0, err
    assert f"target {a!r} − {b!r}" in out and "completeness" in out


def test_bad_target_is_refused_with_a_reason(files, capsys):
    code, _, err = run(capsys, "attribute", "--model", str(files / "model"), "--sae", str(files / "sae"),
                       "--prompt", "hello", "--target", "the quick brown fox")
    assert code == 2 and "tokens" in err and "give one token" in err
    code, _, err = run(capsys, "attribute", "--model", str(files / "model"), "--sae", str(files / "sae"),
                       "--prompt", "hello", "--target", "#999999")
    assert code == 2 and "outside the vocabulary" in err


def test_depth_sae_of_another_model_is_left_out(tmp_path):
    from dataclasses import replace

    from desktop_sae.core.attribution.attributor import Attributor
    from tiny import tiny_lm

    lm = replace(tiny_lm(), sha256="a" * 64)
    main_sae = tmp_path / "sae"
    save_sae(random_sae(hook="blocks.1.hook_resid_post"), main_sae)
    for name, layer, sha in (("L00", 0, "a" * 64), ("L02", 2, "b" * 64)):
        sae = random_sae(hook=f"blocks.{layer}.hook_resid_post")
        sae.cfg.metadata["model_sha256"] = sha
        save_sae(sae, tmp_path / "sae-depths" / name)
    warnings: list[str] = []
    att = Attributor.for_model(lm, random_sae(hook="blocks.1.hook_resid_post"), main_sae, warnings=warnings)
    assert att.layers == (0, 1)
    assert warnings == ["L02: trained on another model; left out"]


def test_refuses_without_residual_saes(files, capsys, tmp_path):
    mlp = tmp_path / "mlp"
    save_sae(random_sae(hook="blocks.1.hook_mlp_out"), mlp)
    code, _, err = run(capsys, "attribute", "--model", str(files / "model"), "--sae", str(mlp), "--prompt", "hi")
    assert code == 2 and "residual" in err


def test_schema_file_is_documented():
    doc = (Path(__file__).parents[1] / "docs" / "ATTRIBUTION.md").read_text()
    assert "attribution_graph.schema.json" in doc


def test_the_answer_follows_the_chat_template_without_a_second_bos(files, capsys):
    from desktop_sae.core.engine.chat_prompt import chat_prompt_ids

    tok = tiny_tokenizer()
    code, out, err = run(capsys, "attribute", "--model", str(files / "model"), "--sae", str(files / "sae"),
                         "--prompt", "hello", "--answer", "the quick", "--json")
    assert code == 0, err
    ids = json.loads(out)["desktop_sae"]["token_ids"]
    head = chat_prompt_ids(tok, "hello")
    assert ids[: len(head)] == head
    assert ids[len(head):] == tok("the quick", add_special_tokens=False)["input_ids"]
