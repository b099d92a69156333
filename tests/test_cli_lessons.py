"""``desktop-sae lessons`` through its own register(), without the main CLI."""

import argparse
import json
from pathlib import Path

from desktop_sae import cli_lessons

LESSONS = Path(__file__).parents[1] / "resources" / "lessons"


def run(argv, capsys):
    p = argparse.ArgumentParser(prog="desktop-sae")
    cli_lessons.register(p.add_subparsers(dest="command"))
    args = p.parse_args(argv)
    rc = args.func(args)
    return rc, capsys.readouterr()


def test_list_json(capsys):
    rc, out = run(["lessons", "--folder", str(LESSONS), "--json"], capsys)
    d = json.loads(out.out)
    assert rc == 0 and d["errors"] == []
    by_id = {les["id"]: les for les in d["lessons"]}
    assert set(by_id) == {"black-boxes", "superposition", "finding-features", "steering"}
    assert by_id["steering"]["title"] == "Steering like Golden Gate Claude"
    assert by_id["steering"]["steps"] == len(json.loads((LESSONS / "steering.json").read_text())["steps"])


def test_list_table(capsys):
    rc, out = run(["lessons", "--folder", str(LESSONS)], capsys)
    assert rc == 0 and len(out.out.splitlines()) == 4 and out.out.startswith("black-boxes ")


def test_check_reports_good_and_bad_files(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1}')
    rc, out = run(["lessons", "--check", str(LESSONS / "steering.json"), str(bad), "--json"], capsys)
    res = json.loads(out.out)["results"]
    assert rc == 2
    assert res[0]["ok"] and res[0]["id"] == "steering"
    assert not res[1]["ok"] and "'bad.json'" in res[1]["error"] and "required" in res[1]["error"]
