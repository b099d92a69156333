"""Every measured figure in the README and the docs traces to the summary of a results file (tests/doc_figures.py
says how), every results file says where and when it was measured, and the check fails on a figure that is wrong."""

import json

import pytest

import doc_figures as df

META_KEYS = {"date", "machine", "load_average_1min", "versions", "command"}


def test_every_figure_in_the_readme_and_docs_traces_to_a_results_file_or_is_listed_as_not_measured():
    missing, stale = df.untraced()
    assert not stale, "exemptions whose text is no longer in their document:\n" + "\n".join(map(str, stale))
    assert not missing, f"{len(missing)} figures trace to no results file:\n" + "\n".join(map(str, missing))


def test_each_exemption_gives_its_reason_and_a_setting_it_names_is_what_the_code_sets():
    for e in df.unmeasured():
        assert {"doc", "text", "why"} <= set(e) <= {"doc", "text", "why", "setting"} and len(e["why"]) > 10, e
        if "setting" in e:  # "path::text": the line of code that sets the value the doc states
            path, code = e["setting"].split("::", 1)
            assert code in (df.ROOT / path).read_text(), f"{path} no longer says {code!r} ({e['doc']}: {e['text']!r})"


def test_every_results_file_named_in_the_docs_exists():
    named = {n for p in df.doc_paths() for n in df.RESULTS_PATH.findall(p.read_text()) if "*" not in n}
    assert named and not [n for n in named if not (df.ROOT / n).is_file()]


@pytest.mark.parametrize("path", df.results_files(), ids=lambda p: str(p.relative_to(df.RESULTS)))
def test_every_results_file_says_where_when_and_how_it_was_measured_and_what_it_sums_up(path):
    rec = json.loads(path.read_text())
    meta = rec["meta"]
    assert META_KEYS <= set(meta), sorted(META_KEYS - set(meta))
    assert meta["date"][:2] == "20"
    unrecorded = [k for k in META_KEYS if meta[k] in (None, "", {})]
    assert not unrecorded or len(meta.get("note", "")) > 20, f"{unrecorded} not recorded and no note says why"
    assert isinstance(rec["summary"], dict) and rec["summary"]


def test_a_figure_that_differs_from_its_results_file_does_not_trace(tmp_path):
    res = df.ROOT / "docs" / "results" / "corpus" / "default_sae_8192.json"
    summary = json.loads(res.read_text())["summary"]
    key, value = next((k, v) for k, v in summary.items() if isinstance(v, float) and 0.1 < v < 1)
    doc = tmp_path / "doc.md"
    right, wrong = f"{value:.3f}", f"{value + 0.01:.3f}"
    doc.write_text(f"# A\n\nExplained variance {right}, and {wrong} (`docs/results/corpus/default_sae_8192.json`).\n")
    got = {f.text: df.traces(f) for f in df.figures(doc)}
    assert got == {right: True, wrong: False}, (key, got)
    doc.write_text(f"# A\n\nExplained variance {right}, no file named.\n")
    assert [df.traces(f) for f in df.figures(doc)] == [False]
