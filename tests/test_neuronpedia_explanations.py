"""Neuronpedia's explanations for a downloaded SAE, against a loopback stand-in for Neuronpedia's exports
(tests/neuronpedia_server.py): the SAE's Neuronpedia id from its SAE directory entry, a fetch over several listing
pages and batches stored with its provenance, servers that answer garbage or fail (a clear message, nothing
written), Cancel, the app's run (fetch and file import, a malformed file refused) and ``desktop-sae explanations
fetch``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

import neuronpedia_server
from desktop_sae.app.job_handles import Jobs
from desktop_sae.app.neuronpedia_explanations_run import ExplanationsRequest, NeuronpediaExplanationsRun
from desktop_sae.app.runs import RunStatus
from desktop_sae.cli import main
from desktop_sae.core.assets.sae_neuronpedia import neuronpedia_target
from desktop_sae.core.explanations.neuronpedia_fetch import fetch_explanations, store_fetched
from desktop_sae.core.explanations.neuronpedia_fields import NeuronpediaExplanationsError
from desktop_sae.core.explanations.store import ExplanationStore
from desktop_sae.core.support.errors import Cancelled
from neuronpedia_server import batch, entry

MODEL, SOURCE = "gemma-3-270m-it", "12-gemmascope-2-res-16k"
NP_ID = f"{MODEL}/{SOURCE}"
PREFIX = f"v1/{MODEL}/{SOURCE}/explanations/"
D_SAE = 16384
neuronpedia_exports = neuronpedia_server.neuronpedia_exports  # the loopback exports' fixture
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def gemma_scope_2_folder(tmp_path, monkeypatch):
    """A Gemma Scope 2 SAE folder as a download leaves it in the hub cache (its config names no Neuronpedia id)."""
    from desktop_sae.core.assets.directory_files import SAELENS_ENV

    monkeypatch.setenv(SAELENS_ENV, "none")  # the built-in subset's entry gives the id
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    folder = (tmp_path / "hub" / "models--google--gemma-scope-2-270m-it" / "snapshots" / COMMIT / "resid_post"
              / "layer_12_width_16k_l0_medium")
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architecture": "jump_relu", "model_name": "gemma-v3-270m-it"}))
    (folder / "params.safetensors").write_bytes(b"")
    return folder


def _noise(i: int, n: int = 300) -> str:
    """Text that gzip cannot shrink much, so a batch takes many chunks to send."""
    import random

    rng = random.Random(i)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(n))


def _serve(server, batches: list[list[dict]]) -> None:
    for i, entries in enumerate(batches):
        server.files[f"{PREFIX}batch-{i}.jsonl.gz"] = batch(entries)
    # another source's folder, under a shared prefix: never read
    server.files[f"v1/{MODEL}/12-gemmascope-2-res-16k-other/explanations/batch-0.jsonl.gz"] = batch(
        [entry(MODEL, "x", 1, "wrong source")])


def test_the_sae_directory_gives_a_downloaded_folder_its_neuronpedia_id(gemma_scope_2_folder):
    target = neuronpedia_target(gemma_scope_2_folder)
    assert (target.neuronpedia_id, target.d_sae, target.folder) == (NP_ID, D_SAE, str(gemma_scope_2_folder))
    cfg = {"d_in": 4, "d_sae": 8, "metadata": {"neuronpedia_id": "gpt2-small/8-res-jb"}}
    (gemma_scope_2_folder / "cfg.json").write_text(json.dumps(cfg))
    assert neuronpedia_target(gemma_scope_2_folder).neuronpedia_id == "gpt2-small/8-res-jb"  # its config wins


def test_a_fetch_reads_every_page_and_batch_and_stores_the_explanations_with_their_provenance(
        neuronpedia_exports, tmp_path):
    _serve(neuronpedia_exports, [
        [entry(MODEL, SOURCE, 3, "  the word Paris ", createdAt="2025-01-02T03:04:05.000Z"),
         entry(MODEL, SOURCE, 3, "a second explanation of 3 (ignored: the first wins)"),
         entry(MODEL, "5-gemmascope-2-res-16k", 4, "another source's feature")],
        [entry(MODEL, SOURCE, 7, "dates in the 1990s"), entry(MODEL, SOURCE, D_SAE, "beyond the SAE's width")],
        [entry(MODEL, SOURCE, 16383, "the last feature", explanationModelName="claude")],
    ])
    seen = []
    fetched = fetch_explanations(NP_ID, D_SAE, progress=lambda f, m: seen.append((f, m)))
    assert fetched.batches == 3 and fetched.url == f"{neuronpedia_exports.url}/{PREFIX}"
    listings = [r for r in neuronpedia_exports.requests if r.startswith("/?")]
    assert len(listings) == 2 and "continuation-token=2" in listings[1]  # two keys a page: two pages
    assert sorted(fetched.explanations) == [3, 7, 16383]
    assert seen[-1][0] == 1.0 and seen[-1][1].startswith("Batch 3 of 3")
    sae = tmp_path / "sae"
    sae.mkdir()
    added, store = store_fetched(fetched, sae)
    assert added == 3 and store.path == sae / "explanations.json"
    d = json.loads(store.path.read_text())
    assert d["explanations"]["3"] == {"text": "the word Paris", "method": "neuronpedia", "explainer": "gpt-4o-mini",
                                      "protocol": "neuronpedia:oai_token-act-pair",
                                      "date": "2025-01-02T03:04:05.000Z"}
    assert d["explanations"]["16383"]["explainer"] == "claude"
    assert d["explanations"]["7"]["date"].startswith(datetime.now(timezone.utc).date().isoformat())
    (rec,) = d["sae"]["neuronpedia_imports"]
    assert {k: rec[k] for k in ("source", "neuronpedia_id", "url", "batches", "added", "found")} == {
        "source": "neuronpedia", "neuronpedia_id": NP_ID, "url": fetched.url, "batches": 3, "added": 3, "found": 3}
    # a second fetch keeps what is stored unless asked to replace it
    store.put(7, store.explanations[7].__class__("my own", store.explanations[7].method, "me"))
    store.save()
    assert store_fetched(fetched, sae)[0] == 0
    assert ExplanationStore.beside(sae).text(7) == "my own"
    assert store_fetched(fetched, sae, replace=True)[0] == 3
    assert ExplanationStore.beside(sae).text(7) == "dates in the 1990s"
    assert len(json.loads(store.path.read_text())["sae"]["neuronpedia_imports"]) == 3


@pytest.mark.parametrize("mode, batches, message", [
    ("garbage_listing", [[entry(MODEL, SOURCE, 1, "x")]], "did not answer with a listing of Neuronpedia's exports"),
    ("garbage_batch", [[entry(MODEL, SOURCE, 1, "x")]], "is neither JSON nor JSON lines"),
    ("500", [[entry(MODEL, SOURCE, 1, "x")]], "HTTP 500 from"),
    ("", [], f"Neuronpedia exports no explanations for {NP_ID}"),
    ("", [[entry(MODEL, SOURCE, D_SAE + 5, "too far"), {"not": "an explanation"}]],
     f"holds no usable explanation of {NP_ID} for an SAE of {D_SAE} features"),
])
def test_a_server_that_answers_garbage_gets_a_clear_message_and_nothing_is_written(
        neuronpedia_exports, tmp_path, mode, batches, message):
    _serve(neuronpedia_exports, batches)
    neuronpedia_exports.mode = mode
    sae = tmp_path / "sae"
    sae.mkdir()
    with pytest.raises(NeuronpediaExplanationsError, match=message):
        fetch_explanations(NP_ID, D_SAE)
    assert list(sae.iterdir()) == []


def test_unreachable_and_malformed_ids(monkeypatch):
    from desktop_sae.core.explanations.neuronpedia_fetch import DATASETS_ENV

    monkeypatch.setenv(DATASETS_ENV, "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(NeuronpediaExplanationsError, match="cannot reach .* import an explanations export file"):
        fetch_explanations(NP_ID, D_SAE)
    with pytest.raises(NeuronpediaExplanationsError, match="is not a Neuronpedia id"):
        fetch_explanations("no-slash-here", D_SAE)
    with pytest.raises(NeuronpediaExplanationsError, match="is not a Neuronpedia id"):
        fetch_explanations("../../etc/passwd", D_SAE)


def test_cancel_stops_between_chunks(neuronpedia_exports):
    big = [entry(MODEL, SOURCE, i, _noise(i)) for i in range(1000)]
    _serve(neuronpedia_exports, [big])
    neuronpedia_exports.mode = "slow"
    calls = []
    with pytest.raises(Cancelled, match="nothing was written"):
        fetch_explanations(NP_ID, D_SAE, progress=lambda f, m: calls.append(f), cancelled=lambda: len(calls) >= 3)
    assert 3 <= len(calls) < 10


# --- the app's run ----------------------------------------------------------------------------------------------
@pytest.fixture
def jobs():
    from desktop_sae.app.jobs import JobRunner

    runner = JobRunner()
    runner.start_thread()
    yield Jobs(runner)
    runner.shutdown()
    runner.thread.join(10)


def _finish(jobs, run, timeout=30):
    import time

    end = time.monotonic() + timeout
    while run.running and time.monotonic() < end:
        jobs.poll()
        time.sleep(0.01)
    jobs.poll()
    assert not run.running


def test_the_run_fetches_imports_and_refuses(neuronpedia_exports, gemma_scope_2_folder, jobs, tmp_path):
    _serve(neuronpedia_exports, [[entry(MODEL, SOURCE, 5, "five")], [entry(MODEL, SOURCE, 6, "six")]])
    target = neuronpedia_target(gemma_scope_2_folder)
    run = NeuronpediaExplanationsRun(jobs)
    run.start(ExplanationsRequest(target.folder, target.neuronpedia_id, target.d_sae))
    _finish(jobs, run)
    assert run.status == RunStatus.DONE, run.error
    out = run.result
    assert (out.added, out.found, out.stored) == (2, 2, 2) and out.origin.endswith(PREFIX)
    assert ExplanationStore.beside(gemma_scope_2_folder).text(6) == "six"

    export = tmp_path / "export.json"
    export.write_text(json.dumps([entry(MODEL, SOURCE, 9, "nine"), entry("gpt2-small", "8-res-jb", 9, "other")]))
    run.start(ExplanationsRequest(target.folder, NP_ID, D_SAE, file=str(export)))
    _finish(jobs, run)
    assert run.status == RunStatus.DONE and (run.result.added, run.result.stored) == (1, 3)
    rec = json.loads((gemma_scope_2_folder / "explanations.json").read_text())["sae"]["neuronpedia_imports"][-1]
    assert rec["file"] == str(export) and rec["neuronpedia_id"] == NP_ID

    before = (gemma_scope_2_folder / "explanations.json").read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text('{"explanations": [{"index": "1", "description": ')
    run.start(ExplanationsRequest(target.folder, NP_ID, D_SAE, file=str(bad)))
    _finish(jobs, run)
    assert run.status == RunStatus.FAILED and "neither JSON nor JSON lines" in run.error
    assert (gemma_scope_2_folder / "explanations.json").read_bytes() == before

    neuronpedia_exports.mode = "slow"
    neuronpedia_exports.files[f"{PREFIX}batch-0.jsonl.gz"] = batch(
        [entry(MODEL, SOURCE, i, _noise(i)) for i in range(1000)])
    run.start(ExplanationsRequest(target.folder, NP_ID, D_SAE, replace=True))
    import time

    end = time.monotonic() + 20
    while run.message[:5] != "Batch" and time.monotonic() < end:
        jobs.poll()
        time.sleep(0.01)
    run.cancel()
    _finish(jobs, run)
    assert run.status == RunStatus.CANCELLED
    assert (gemma_scope_2_folder / "explanations.json").read_bytes() == before


def test_the_fetch_command(neuronpedia_exports, gemma_scope_2_folder, capsys):
    _serve(neuronpedia_exports, [[entry(MODEL, SOURCE, 1, "one"), entry(MODEL, SOURCE, 2, "two")]])
    assert main(["explanations", "fetch", "--sae", str(gemma_scope_2_folder)]) == 0
    err = capsys.readouterr().err
    assert f"2 explanations added to {gemma_scope_2_folder / 'explanations.json'}" in err
    assert ExplanationStore.beside(gemma_scope_2_folder).text(2) == "two"
    other = Path(gemma_scope_2_folder).parent / "not_listed"
    other.mkdir()
    assert main(["explanations", "fetch", "--sae", str(other)]) == 2
    assert "has no Neuronpedia id in its config or the SAE directory; give one with --id" in capsys.readouterr().err
