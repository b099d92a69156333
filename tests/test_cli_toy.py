"""``desktop-sae toy …`` through its own register(), without the main CLI."""

import json

import pytest
import torch

from desktop_sae.cli import build_parser
from desktop_sae.cli import toy_commands as cli_toy
from desktop_sae.core.support.errors import DesktopSAEError

torch.set_num_threads(1)


def run(argv, capsys):
    args = build_parser().parse_args(argv)
    assert args.func is cli_toy.cmd_toy
    rc = args.func(args)
    return rc, capsys.readouterr()


def test_superposition_json(capsys):
    rc, out = run(["toy", "superposition", "--n", "5", "--sparsity", "0.95", "--seed", "0", "--json"], capsys)
    assert rc == 0 and out.err == ""  # --json keeps stderr quiet
    d = json.loads(out.out)
    assert len(d["W"]) == 2 and all(len(row) == 5 for row in d["W"]) and len(d["b"]) == 5
    assert d["geometry"]["represented"] == [0, 1, 2, 3, 4] and d["geometry"]["is_polygon"] is True
    assert 0 < d["final_loss"] < 0.02
    assert d["config"]["sparsity"] == 0.95 and d["config"]["m"] == 2


def test_superposition_table_and_steps(capsys):
    rc, out = run(["toy", "superposition", "--sparsity", "0", "--steps", "1500", "--seed", "1"], capsys)
    lines = out.out.splitlines()
    assert rc == 0 and "2 of 5 features represented" in lines[-1]
    rows = [ln.split() for ln in lines[2:7]]
    assert [r[-1] for r in rows] == ["yes", "yes", "no", "no", "no"]


def test_sae_json(capsys):
    rc, out = run(["toy", "sae", "--sparsity", "0.95", "--seed", "1", "--json"], capsys)
    s = json.loads(out.out)["sae"]
    assert len(s["W_dec"]) == 10 and s["recovered_fraction"] >= 0.9


def test_bad_values_raise_a_user_error(capsys):
    with pytest.raises(DesktopSAEError, match="sparsity"):
        run(["toy", "superposition", "--sparsity", "1.5", "--json"], capsys)


def test_rainbow_json(capsys):
    rc, out = run(["toy", "rainbow", "--colours", "12", "--json"], capsys)
    d = json.loads(out.out)
    assert len(d["codes"]) == 12 and len(d["codes"][0]) == 3 and len(d["sparse_unit"]) == 12
    assert d["distinct_fraction"] >= 0.9
    assert sum(d["sparse_error"]) < sum(d["dense_error"])
