"""Fuzzing the preset parser and the preset/SAE check: whatever the file holds, the answer is a valid Preset (which
survives a save/parse round trip byte for byte) or a PresetError with a message, never another exception."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import reliability_util as ru
from hypothesis import given
from hypothesis import strategies as st

from desktop_sae.core.presets.demo_concepts import DemoConcept
from desktop_sae.core.presets.file_format import (
    MAX_FEATURES,
    MAX_NAME,
    SCHEMA,
    SAEIdentity,
    parse_preset,
    preset_to_json,
)
from desktop_sae.core.presets.identity import check_preset
from desktop_sae.core.steering.specs import UNITS
from desktop_sae.core.steering.syntax import METHOD_ALIASES
from desktop_sae.core.support.errors import PresetError

DEMO = {
    "bridge": DemoConcept("bridge", 3, "bridge", 8.0, "max", "clamp"),
    "code": DemoConcept("code", 70, strength=-2.5, unit="raw"),
}
IDENT = SAEIdentity(name="tiny-sae", d_sae=64, hook="blocks.1.hook_resid_post", fingerprint="0123456789abcdef")

TEXTS = ["", "bridge", "  padded  ", "é🙂", "x" * 80, "../up", "a/b\\c", "recent", "CON", "\u202eevil", "tab\there"]
text = st.sampled_from(TEXTS) | st.text(max_size=6)
feature = st.one_of(
    st.fixed_dictionaries(
        {"id": st.integers(0, 80), "strength": st.floats(-1e6, 1e6)},
        optional={
            "unit": st.sampled_from(UNITS),
            "method": st.sampled_from([*METHOD_ALIASES, "ADD", "Clamp"]),
            "enabled": st.booleans(),
            "label": text,
        },
    ),
    st.fixed_dictionaries({"demo": st.sampled_from(sorted(DEMO))}, optional={"strength": st.floats(-1e6, 1e6)}),
)
sampling = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 100),
        "top_p": st.floats(1e-9, 1),
        "top_k": st.integers(0, 100_000),
        "frequency_penalty": st.floats(-100, 100),
        "repetition_penalty": st.floats(1e-9, 100),
        "seed": st.none() | st.integers(0, 2**63 - 1),
        "max_new_tokens": st.integers(0, 100_000),
    },
)
sae_ident = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["", "tiny-sae", "other"]),
        "d_sae": st.sampled_from([0, 64, 65, 2**70]),
        "hook": st.sampled_from(["", IDENT.hook, "blocks.2.hook_resid_post"]),
        "fingerprint": st.sampled_from(["", IDENT.fingerprint, "ffff"]),
    },
)
valid_preset = st.fixed_dictionaries(
    {
        "schema": st.just(SCHEMA),
        "version": st.just(1),
        "steering": st.fixed_dictionaries(
            {"features": st.lists(feature, max_size=6)},
            optional={"multiplier": st.floats(-100, 100), "skip_special": st.booleans()},
        ),
    },
    optional={
        "name": text,
        "description": text,
        "model": text,
        "sae": sae_ident,
        "sampling": sampling,
        "system": st.none() | text,
    },
)


def _parse(target: str, raw, demo=DEMO):
    """parse_preset, asserting the contract: a sound Preset or a PresetError. Returns the Preset or None."""
    try:
        p = parse_preset(raw, "fuzzed.json", demo)
    except PresetError as e:
        ru.refused(target, e, PresetError)
        return None
    except Exception as e:
        raise AssertionError(f"{type(e).__name__} escaped parse_preset: {e!r}") from e
    _sound(p)
    ru.tally(target, "valid")
    return p


def _sound(p) -> None:
    """A parsed preset is well-formed and writes back to the same preset (as UTF-8, the way PresetStore saves it)."""
    assert 0 < len(p.name) <= MAX_NAME and p.name == p.name.strip()
    assert len(p.steering.features) <= MAX_FEATURES
    assert math.isfinite(p.steering.multiplier)
    for s in p.steering.features:
        assert isinstance(s.feature, int) and s.feature >= 0 and math.isfinite(s.strength)
    p.sampling.validate()
    raw = preset_to_json(p).encode("utf-8")
    back = parse_preset(raw, "round-trip.json")
    assert back == replace(p, demo_refs={}), "a parsed preset changed on a save/parse round trip"


@given(
    st.one_of(
        st.binary(max_size=600),
        st.tuples(
            valid_preset,
            st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1"]),
            st.integers(0, 1000),
            st.binary(max_size=3),
        ).map(lambda t: (lambda b: b[: t[2]] + t[3] + b[t[2] :])(ru.dumps(t[0]).encode(t[1], "replace"))),
    )
)
def test_arbitrary_bytes(raw):
    _parse("presets: bytes", raw)


@given(ru.any_json)
def test_arbitrary_json(value):
    _parse("presets: json", ru.dumps(value))


@given(st.data())
def test_mutated_presets(data):
    """0 to 4 edits of a well-formed preset: unedited ones must parse (and round-trip); edited ones parse or are
    refused with a PresetError."""
    d = data.draw(valid_preset, label="seed preset")
    if data.draw(st.integers(0, 4), label="edit?") == 0:
        p = _parse("presets: valid (unedited)", ru.dumps(d))
        assert p is not None, "a well-formed preset was refused"
        for i, f in enumerate(d["steering"]["features"]):
            assert p.steering.features[i].feature == f.get("id", (DEMO[f["demo"]].feature if "demo" in f else None))
        return
    _parse("presets: mutated", ru.dumps(ru.mutate(data, d)))


@given(st.data())
def test_check_preset_against_a_tiny_sae(data):
    d = data.draw(valid_preset, label="seed preset")
    p = None
    if data.draw(st.booleans(), label="mutate"):  # an edited preset if it parses, else the original one
        p = _parse("check_preset: parse", ru.dumps(ru.mutate(data, json.loads(ru.dumps(d)), n_max=2)))
    p = p or _parse("check_preset: parse", ru.dumps(d))
    assert p is not None
    stats = data.draw(st.sampled_from(["none", "finite", "holes"]), label="stats")
    max_act = (
        None if stats == "none" else np.abs(np.random.default_rng(0).normal(size=IDENT.d_sae)).astype(np.float32) + 0.1
    )
    if stats == "holes":
        max_act[::3] = np.nan
        max_act[1::3] = 0.0
    before = None if max_act is None else max_act.copy()
    current = data.draw(st.sampled_from([IDENT, None, replace(IDENT, fingerprint="")]), label="loaded SAE")
    try:
        check_preset(p, current, max_act)
    except PresetError as e:
        ru.refused("check_preset", e, PresetError)
        return
    except Exception as e:
        raise AssertionError(f"{type(e).__name__} escaped check_preset: {e!r}") from e
    finally:
        if before is not None:
            np.testing.assert_array_equal(max_act, before)  # checking changes nothing
    ru.tally("check_preset", "accepted")
    for s in p.steering.features:  # an accepted preset can be applied: every feature exists, 'max' has statistics
        assert current is not None and 0 <= s.feature < current.d_sae
        if s.unit == "max":
            assert max_act is not None and np.isfinite(max_act[s.feature]) and max_act[s.feature] > 0
    if p.steering.features and p.sae.d_sae:
        assert p.sae.d_sae == current.d_sae
