"""The fuzzing and crash-safety tables of ``docs/RELIABILITY.md`` hold the counts of the two profiles' results files.

The figure checker (``tests/doc_figures.py``) leaves bare counts alone, so these tables get a test of their own:
each row's cases and outcomes ("1 089 valid, 911 PresetError") must be the tally the suite wrote.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "RELIABILITY.md"
RESULTS = ROOT / "docs" / "results" / "reliability"

# the table's row name -> the tally's key
FUZZ_ROWS = {
    "presets: bytes": "presets: bytes",
    "presets: JSON": "presets: json",
    "presets: mutated": "presets: mutated",
    "presets: unedited (must parse)": "presets: valid (unedited)",
    "check_preset": "check_preset",
    "SAELens cfg.json": "sae: SAELens cfg.json",
    "SAELens weights/stats": "sae: SAELens weights/stats",
    "Gemma Scope params.npz": "sae: Gemma Scope params.npz",
    "sparsify folder": "sae: sparsify folder",
    "Neuronpedia: bytes": "neuronpedia: bytes",
    "Neuronpedia: JSON": "neuronpedia: json",
    "Neuronpedia: mutated": "neuronpedia: mutated",
    "Neuronpedia: unedited (must import)": "neuronpedia: valid (unedited)",
    "ours → theirs: export": "neuronpedia: export",
    "ours → theirs → ours: import": "neuronpedia: ours round trip",
    "Neuronpedia: app import": "neuronpedia: app import",
}
WRITERS = ("preset", "labels", "checkpoint", "sae")


def _count(text: str) -> int:
    return int(text.replace(" ", "").replace("\u202f", ""))


def _outcomes(cell: str) -> dict[str, int]:
    """'1 089 valid, 911 PresetError' -> {'valid': 1089, 'PresetError': 911}."""
    out = {}
    for part in cell.split(","):
        m = re.fullmatch(r"\s*([\d ]+?)\s+(\S+)\s*", part)
        assert m, f"cannot read the outcome {part!r}"
        out[m.group(2)] = _count(m.group(1))
    return out


def _rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0] in (*FUZZ_ROWS, *WRITERS):
            rows[cells[0]] = cells
    return rows


def _tally(profile: str) -> dict[str, dict[str, int]]:
    return json.loads((RESULTS / f"{profile}_profile.json").read_text(encoding="utf-8"))["summary"]["tally"]


def test_every_fuzz_target_of_the_results_files_has_a_row():
    keys = {k for k in _tally("ci") if not k.startswith(("crash points", "random SIGKILL", "check_preset: parse"))}
    assert keys == set(FUZZ_ROWS.values()) and set(FUZZ_ROWS) <= set(_rows())


@pytest.mark.parametrize("row", sorted(FUZZ_ROWS))
def test_a_fuzz_row_is_its_tally_in_both_profiles(row):
    cells = _rows()[row]
    for (cases, outcomes), profile in ((cells[1:3], "ci"), (cells[3:5], "heavy")):
        tally = dict(_tally(profile)[FUZZ_ROWS[row]])
        assert _count(cases) == tally.pop("cases"), (row, profile)
        assert _outcomes(outcomes) == tally, (row, profile)


@pytest.mark.parametrize("writer", WRITERS)
def test_a_crash_row_is_its_tally_in_both_profiles(writer):
    _, points_ci, points_heavy, kills_ci, left_ci, kills_heavy, left_heavy = _rows()[writer]
    for points, kills, left, profile in ((points_ci, kills_ci, left_ci, "ci"),
                                         (points_heavy, kills_heavy, left_heavy, "heavy")):
        tally = _tally(profile)
        summary = json.loads((RESULTS / f"{profile}_profile.json").read_text(encoding="utf-8"))["summary"]
        assert _count(left) == summary["temporary_files_left"][writer], (writer, profile)
        assert _count(points) == tally[f"crash points: {writer}"]["cases"]
        k = tally[f"random SIGKILL: {writer}"]
        assert kills == f"{k['cases']} kills, {k['intact after kill']} intact", (writer, profile)
