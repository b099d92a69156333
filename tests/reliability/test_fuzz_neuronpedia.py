"""Fuzzing the Neuronpedia importer and exporter: whatever the file holds, ``parse_neuronpedia`` returns a sound
import (its preset saves and re-reads unchanged, every feature exists, it exports and re-imports to the same
settings) or raises a NeuronpediaError with a readable message, quickly; the app's import applies all of a file or
none of it; and our own settings always survive ours -> theirs -> ours."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pytest
import reliability_util as ru
from hypothesis import given
from hypothesis import strategies as st

import tiny
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.interop.neuronpedia_ids import METHODS, OUTPUT_TYPES, Target, neuronpedia_method
from desktop_sae.core.interop.neuronpedia_read import parse_neuronpedia
from desktop_sae.core.interop.neuronpedia_write import neuronpedia_json, to_neuronpedia
from desktop_sae.core.presets.file_format import Preset, SAEIdentity, parse_preset, preset_to_json
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.support.errors import NeuronpediaError

IDENT = SAEIdentity("tiny-sae", 64, "blocks.12.hook_resid_post", "0123456789abcdef")
OURS = Target("SmolLM2-135M-Instruct", IDENT)
SRC = "12-res-tiny-sae"
MAX_ACT = np.abs(np.random.default_rng(0).normal(size=64)).astype(np.float32) + 0.1
MAX_ACT.setflags(write=False)  # parsing must not change it (a write would raise)
SLOW_S = 10.0  # a single parse this slow is a hang on any machine

text = st.sampled_from(["", "Hi", "é🙂", "x" * 300, "\u202eevil", "tab\there"]) | st.text(max_size=8)
model = st.sampled_from(["smollm2-135m-it", "SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"])
feature = st.fixed_dictionaries(
    {"modelId": model, "layer": st.sampled_from([SRC, SRC.upper()]),
     "index": st.integers(0, 63) | st.integers(0, 63).map(str), "strength": st.floats(-1e4, 1e4)},
    optional={"explanation": text},
)
message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "model"]), "content": text})
chat = st.tuples(st.none() | text, st.lists(message, max_size=4), text).map(
    lambda t: ([{"role": "system", "content": t[0]}] if t[0] is not None else [])
    + t[1] + [{"role": "user", "content": t[2]}])
conversation = st.one_of(
    st.just({}), text.map(lambda p: {"prompt": p}),
    chat.map(lambda c: {"steeredChatMessages": c, "defaultChatMessages": c}),
)
outputs = st.fixed_dictionaries({}, optional={"STEERED": text | st.fixed_dictionaries({"raw": text}),
                                              "DEFAULT": text, "types": st.sampled_from([["STEERED"], ["DEFAULT"],
                                                                                         list(OUTPUT_TYPES)])})
request = st.tuples(
    st.fixed_dictionaries(
        {"modelId": model},
        optional={
            "features": st.lists(feature, max_size=6, unique_by=lambda f: int(f["index"])),
            "strength_multiplier": st.floats(0, 10), "temperature": st.floats(0, 2), "n_tokens": st.integers(0, 256),
            "freq_penalty": st.floats(-2, 2), "seed": st.none() | st.integers(0, 10**8),
            "steer_method": st.sampled_from(["SIMPLE_ADDITIVE", "ORTHOGONAL_DECOMP"]),
            "steer_special_tokens": st.booleans(), "name": text, "id": text,
        },
    ),
    conversation, outputs,
).map(lambda t: {**t[0], **t[1], **t[2]})
spec = st.builds(SteerSpec, st.integers(0, 63), st.floats(-1e6, 1e6), st.sampled_from(["raw", "max"]),
                 st.sampled_from(["add", "orth", "clamp"]), st.booleans(), text)
sampling = st.builds(SamplingConfig, st.floats(0, 100), st.floats(1e-9, 1), st.integers(0, 100_000),
                     st.floats(-100, 100), st.floats(1e-9, 100), st.none() | st.integers(0, 2**63 - 1),
                     st.integers(0, 100_000))
ours = st.builds(
    lambda specs, m, skip, sp, system, name: Preset(name.strip()[:80].strip() or "p",
                                                     SteeringConfig(tuple(specs), m, skip), sp, OURS.model, IDENT,
                                                     system),
    st.lists(spec, max_size=5, unique_by=lambda s: s.feature), st.floats(-100, 100), st.booleans(), sampling,
    st.none() | text, text,
)
plausible = st.sampled_from(["PROJECTION_CAP", "ORTHOGONAL_DECOMP", "gemma-2b", "12-res-jb", "6-res-jb", SRC, 64, 63,
                             -1, "63", 1e7, None, True, [], {}, "STEERED", "system"])
values = st.one_of(plausible, ru.nasty)


def _export(p: Preset) -> dict:
    return to_neuronpedia(p, OURS, [("user", "Hi")], {"STEERED": "a"}, MAX_ACT)[0]


def _parse(target: str, raw):
    """parse_neuronpedia, asserting the contract; returns the Imported or None."""
    t0 = time.perf_counter()
    try:
        imp = parse_neuronpedia(raw, OURS, MAX_ACT, where="fuzzed.json")
    except NeuronpediaError as e:
        ru.refused(target, e, NeuronpediaError)
        return None
    except Exception as e:
        raise AssertionError(f"{type(e).__name__} escaped parse_neuronpedia: {e!r}") from e
    finally:
        assert time.perf_counter() - t0 < SLOW_S, "parse_neuronpedia took too long"
    _sound(imp)
    ru.tally(target, "restored" if imp.restored else "imported")
    return imp


def _sound(imp) -> None:
    p = imp.preset
    for s in p.steering.features:
        assert 0 <= s.feature < IDENT.d_sae and np.isfinite(s.strength)
    p.sampling.validate()
    assert parse_preset(preset_to_json(p).encode("utf-8")) == p, "an import is not a savable preset"
    assert isinstance(imp.prompt, str) and set(imp.outputs) <= set(OUTPUT_TYPES)
    methods = {s.method for s in p.steering.active}
    if len(methods) <= 1 and all(neuronpedia_method(m) for m in methods):  # expressible there: comes back the same
        doc, _ = to_neuronpedia(p, OURS, [*imp.history, ("user", imp.prompt)], imp.outputs, MAX_ACT)
        back = parse_neuronpedia(neuronpedia_json(doc), OURS, MAX_ACT)
        assert back.restored and back.preset == p and back.prompt == imp.prompt


@given(st.one_of(
    st.binary(max_size=600),
    st.tuples(request, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]), st.integers(0, 800),
              st.binary(max_size=3)).map(lambda t: (lambda b: b[: t[2]] + t[3] + b[t[2]:])(
                  ru.dumps(t[0]).encode(t[1], "replace"))),
))
def test_arbitrary_bytes(raw):
    _parse("neuronpedia: bytes", raw)


@given(ru.any_json)
def test_arbitrary_json(value):
    _parse("neuronpedia: json", ru.dumps(value))


@given(st.data())
def test_mutated_requests_and_exports(data):
    """0 to 4 edits of a well-formed request or of one of our exports: unedited ones must import."""
    seed = data.draw(st.one_of(request, ours.map(_one_method).map(_export)), label="seed file")
    if data.draw(st.integers(0, 4), label="edit?") == 0:
        assert _parse("neuronpedia: valid (unedited)", ru.dumps(seed)) is not None, "a well-formed file was refused"
        return
    _parse("neuronpedia: mutated", ru.dumps(ru.mutate(data, json.loads(json.dumps(seed)), values=values)))


def _one_method(p: Preset) -> Preset:
    """The preset with every feature steered by its first feature's method (add if that is clamp)."""
    first = p.steering.features[0].method if p.steering.features else "add"
    method = first if neuronpedia_method(first) else "add"
    feats = tuple(replace(s, method=method) for s in p.steering.features)
    return replace(p, steering=replace(p.steering, features=feats))


def _expressible(p: Preset) -> bool:
    methods = {s.method for s in p.steering.active}
    return len(methods) <= 1 and all(neuronpedia_method(m) for m in methods)


@given(ours)
def test_ours_to_theirs_to_ours(p):
    try:
        doc, _ = to_neuronpedia(p, OURS, [("user", "Hi")], {"STEERED": "a", "DEFAULT": "b"}, MAX_ACT)
    except NeuronpediaError as e:
        ru.refused("neuronpedia: export", e, NeuronpediaError)
        assert not _expressible(p), f"an expressible preset was refused: {e}"
        return
    assert _expressible(p) and doc["steer_method"] in METHODS
    back = _parse("neuronpedia: ours round trip", neuronpedia_json(doc))
    assert back is not None and back.restored and back.preset == p


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    from desktop_sae.app.controller import Controller
    from desktop_sae.app.jobs import JobRunner
    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.core.presets.store import PresetStore

    root = tmp_path_factory.mktemp("np-app")
    runner = JobRunner()
    runner.start_thread()
    ctl = Controller(runner, loader=tiny.make_loader(tiny.save_tiny_sae(root / "tiny-sae")),
                     store=PresetStore(root / "p"))
    ctl.model.load(LoadRequest())
    ctl.wait_until(lambda: ctl.model.ready or ctl.notices.last_error, 60, "the model")
    assert ctl.model.ready, ctl.notices.last_error
    yield ctl, root / "case.json"
    runner.shutdown()
    runner.thread.join(10)


APP_SRC = "1-res-tiny-sae"
APP_NAMES = {SRC: APP_SRC, SRC.upper(): APP_SRC, "HuggingFaceTB/SmolLM2-135M-Instruct": "tiny-llama",
             "SmolLM2-135M-Instruct": "tiny-llama", "smollm2-135m-it": "tiny-llama"}


def _for_the_app(d: dict) -> dict:
    """The same request for the tiny model and SAE the app fixture loads."""
    text = json.dumps(d)
    for a, b in APP_NAMES.items():
        text = text.replace(json.dumps(a), json.dumps(b))
    return json.loads(text)


app_request = request.map(_for_the_app)


@given(st.data())
def test_the_app_applies_a_whole_file_or_nothing(controller, data):
    from desktop_sae.app.neuronpedia_transfer import import_neuronpedia

    ctl, path = controller
    ctl.steering.set_steering(SteeringConfig((SteerSpec(3, 1.5, "raw", "clamp", True, "three"),), 0.5))
    ctl.conversation.set_sampling(SamplingConfig(seed=1, top_p=0.7))
    ctl.conversation.set_system("before")
    ctl.notices.last_error = None
    before = (ctl.steering.config, ctl.conversation.sampling, ctl.conversation.system)
    d = data.draw(app_request, label="file")
    if data.draw(st.booleans(), label="mutate"):
        d = ru.mutate(data, d, values=values)
    path.write_text(ru.dumps(d), encoding="utf-8", errors="surrogatepass")
    imp = import_neuronpedia(ctl, path)
    if imp is None:
        after = (ctl.steering.config, ctl.conversation.sampling, ctl.conversation.system)
        assert after == before, "a refused file changed things"
        assert ctl.notices.last_error and len(ctl.notices.last_error) < 2000
        ru.tally("neuronpedia: app import", "refused")
        return
    p = imp.preset
    assert [(s.feature, s.strength, s.method) for s in ctl.steering.config.features] == [
        (s.feature, s.strength, s.method) for s in p.steering.features]
    assert ctl.steering.config.multiplier == p.steering.multiplier and ctl.conversation.sampling == p.sampling
    assert ctl.conversation.system == (p.system if p.system is not None else "before")
    ru.tally("neuronpedia: app import", "applied")


def test_every_neuronpedia_fuzzer_reached_imports():
    """The fuzzers must not only produce garbage: each imported at least 5 % of its cases (when it ran)."""
    for target in ("neuronpedia: bytes", "neuronpedia: mutated", "neuronpedia: app import"):
        counts = ru.TALLY.get(target)
        if counts:
            accepted = sum(n for k, n in counts.items() if k in ("imported", "restored", "applied"))
            assert accepted >= 0.05 * sum(counts.values()), f"{target}: {dict(counts)}"
