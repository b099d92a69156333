"""Fuzzing the SAE loaders (SAELens folder, Gemma Scope params.npz, EleutherAI sparsify folder): edited configs,
damaged or hand-made safetensors and .npz files, wrong shapes and dtypes, mismatched widths. Each case is written to
its own folder; ``load_sae`` must return a sound SAE (right shapes, finite float32 weights, typed config that the app
can use: attaching it to a tiny model session raises nothing but the project's errors) or raise a DesktopSAEError
(SAEFormatError in practice) with a message. Never another exception, never an allocation sized by the config."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import tempfile
from pathlib import Path

import fuzz_files as ff
import pytest
import reliability_util as ru
import torch
from hypothesis import given
from hypothesis import strategies as st

from desktop_sae.core.engine.session import Session
from desktop_sae.core.presets.identity import sae_identity
from desktop_sae.core.sae.formats import load_sae, save_sae
from desktop_sae.core.sae.sae_config import ARCHITECTURES, NORMALIZATIONS
from desktop_sae.core.support.errors import DesktopSAEError
from tiny import random_sae, tiny_lm

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # float64 -> float32 casts

CFG_KEYS = ["k", "d_in", "d_sae", "scaling_factor", "activation_fn_str", "activation_fn", "activation_fn_kwargs",
            "hook_point", "hook_name", "model_name", "typical_norm", "context_size", "neuronpedia_id", "model_sha256",
            "outlier_norm_threshold", "dtype", "rescale_acts_by_decoder_norm", "apply_b_dec_to_input",
            "normalize_activations", "architecture", "metadata", "num_latents", "expansion_factor"]
plausible = st.sampled_from([*ARCHITECTURES, *NORMALIZATIONS, "relu", 0, 1, 2, 4, 8, 9, 63, 64, 65, 2**40, 0.5, 2.0,
                             math.nan, math.inf, True, None, "blocks.1.hook_resid_post", "blocks.9.hook_mlp_out",
                             {"k": 4}, {"hook_name": 3}, "float16", [], {}])
cfg_values = st.one_of(plausible, plausible, ru.nasty)
cfg_keys = st.sampled_from(CFG_KEYS) | st.text(max_size=6)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-sae")


@pytest.fixture(scope="module")
def session():
    return Session(tiny_lm())


@functools.cache
def _saelens_seed(arch: str, d_in: int) -> tuple[dict, bytes, dict]:
    """(cfg.json, weights file, expected tensor shapes) of a saved tiny SAE."""
    folder = Path(tempfile.mkdtemp(prefix="sae-seed-"))
    sae = random_sae(d_in=d_in, d_sae=8, arch=arch, k=4, model_name="tiny-llama",
                     metadata={"typical_norm": 3.5, "context_size": 128, "model_sha256": "ab" * 32})
    save_sae(sae, folder)
    out = json.loads((folder / "cfg.json").read_text()), (folder / "sae_weights.safetensors").read_bytes()
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    return (*out, sae.expected_shapes())


@contextlib.contextmanager
def _case(work: Path, *parts: str):
    """The folder for one case: the same folder for every case of a target, emptied of files first (creating and
    removing folders costs more than the whole case on some file systems)."""
    folder = work.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    for f in folder.iterdir():
        f.unlink()
    yield folder


def _load(target: str, path: Path, session: Session | None = None):
    """load_sae under the contract; returns the SAE or None."""
    try:
        sae = load_sae(path)
    except DesktopSAEError as e:
        ru.refused(target, e)
        return None
    except Exception as e:
        raise AssertionError(f"{type(e).__name__} escaped load_sae: {e!r}") from e
    _sound(sae, session)
    ru.tally(target, "loaded")
    return sae


def _sound(sae, session: Session | None) -> None:
    c = sae.cfg
    assert isinstance(c.d_in, int) and isinstance(c.d_sae, int) and c.d_in > 0 and c.d_sae > 0
    assert c.architecture in ARCHITECTURES and c.normalize_activations in NORMALIZATIONS
    assert isinstance(c.hook_name, str) and isinstance(c.model_name, str) and isinstance(c.metadata, dict)
    assert math.isfinite(c.scaling_factor) and c.scaling_factor > 0
    if c.architecture == "topk":
        assert isinstance(c.k, int) and 0 < c.k <= c.d_sae
    for name, shape in sae.expected_shapes().items():
        t = getattr(sae, name)
        assert tuple(t.shape) == shape and t.dtype == torch.float32 and bool(torch.isfinite(t).all()), name
    if sae.stats is not None:
        assert sae.stats.max_activation.shape == (c.d_sae,)
    with torch.no_grad():
        recon, acts = sae(torch.randn(3, c.d_in))
    assert recon.shape == (3, sae.output_width) and acts.shape == (3, c.d_sae)
    ident = sae_identity(sae)
    assert isinstance(ident.name, str) and isinstance(ident.hook, str)
    if session is not None:  # what the app does next with it: errors, if any, are the project's own
        from desktop_sae.core.engine.session import Session

        try:
            Session(session.lm).attach_sae(sae)  # a fresh session on the same model, as the app's SAE swap does
        except DesktopSAEError as e:
            assert str(e).strip()


@given(st.data())
def test_saelens_config(work, session, data):
    cfg, weights, _ = _saelens_seed(data.draw(st.sampled_from(ARCHITECTURES), label="arch"), 64)
    cfg = ru.mutate(data, json.loads(json.dumps(cfg)), n_max=3, values=cfg_values, keys=cfg_keys)
    with _case(work, "sae") as folder:
        (folder / "cfg.json").write_text(ru.dumps(cfg), encoding="utf-8", errors="surrogatepass")
        (folder / "sae_weights.safetensors").write_bytes(weights)
        _load("sae: SAELens cfg.json", folder, session)


@given(st.data())
def test_saelens_weights_and_stats(work, data):
    arch = data.draw(st.sampled_from(ARCHITECTURES), label="arch")
    cfg, _, shapes = _saelens_seed(arch, 4)
    with _case(work, "sae") as folder:
        (folder / "cfg.json").write_text(json.dumps(cfg))
        raw = ff.safetensors_bytes(data, ff.tensors(data, shapes))
        (folder / "sae_weights.safetensors").write_bytes(ff.damage(data, raw))
        stats = data.draw(st.sampled_from(["none", "none", "feature_stats", "sparsity"]), label="stats file")
        if stats == "feature_stats":
            items = ff.tensors(data, {"max_activation": (8,), "mean_activation": (8,), "density": (8,)})
            (folder / "feature_stats.safetensors").write_bytes(ff.damage(data, ff.safetensors_bytes(data, items)))
        elif stats == "sparsity":
            items = ff.tensors(data, {"sparsity": (8,)})
            (folder / "sparsity.safetensors").write_bytes(ff.damage(data, ff.safetensors_bytes(data, items)))
        target = data.draw(st.sampled_from([folder, folder / "sae_weights.safetensors", folder / "cfg.json"]))
        _load("sae: SAELens weights/stats", target)


@given(st.data())
def test_gemma_scope_npz(work, data):
    sae = random_sae(d_in=4, d_sae=8, arch="jumprelu", apply_b_dec_to_input=False)
    arrays = {n: getattr(sae, n).detach().numpy() for n in sae.tensor_names()}
    with _case(work, "gemma-scope-2b-pt-res", "layer_3", "width_16k", "average_l0_10") as folder:
        (folder / "params.npz").write_bytes(ff.damage(data, ff.npz_bytes(data, arrays)))
        if data.draw(st.integers(0, 3), label="cfg.json?") == 0:
            meta = ru.mutate(data, {"hook_name": "blocks.3.hook_resid_post", "model_name": "gemma-2-2b"}, n_max=2,
                             values=cfg_values, keys=cfg_keys)
            (folder / "cfg.json").write_text(ru.dumps(meta), encoding="utf-8", errors="surrogatepass")
        loaded = _load("sae: Gemma Scope params.npz", data.draw(st.sampled_from([folder, folder / "params.npz"])))
        if loaded is not None:
            assert loaded.cfg.architecture == "jumprelu" and not loaded.cfg.apply_b_dec_to_input


@given(st.data())
def test_sparsify_folder(work, data):
    cfg = {"k": 4, "num_latents": 8, "d_in": 4, "expansion_factor": 2, "model_name": "tiny", "signed": False}
    cfg = ru.mutate(data, cfg, n_max=3, values=cfg_values, keys=cfg_keys) if data.draw(st.booleans()) else cfg
    shapes = {"encoder.weight": (8, 4), "encoder.bias": (8,), "W_dec": (8, 4), "b_dec": (4,)}
    with _case(work, "layers.1") as folder:
        (folder / "cfg.json").write_text(ru.dumps(cfg), encoding="utf-8", errors="surrogatepass")
        raw = ff.safetensors_bytes(data, ff.tensors(data, shapes, extra_names=("W_enc", "encoder.weight", "x")))
        (folder / "sae.safetensors").write_bytes(ff.damage(data, raw))
        loaded = _load("sae: sparsify folder", folder)
        if loaded is not None:
            assert loaded.cfg.architecture == "topk" and loaded.source_format == "sparsify"


def test_every_sae_fuzzer_reached_loadable_files():
    """The fuzzers must not only produce garbage: each loaded at least 5 % of its cases (when it ran)."""
    ran = {t: c for t, c in ru.TALLY.items() if t.startswith("sae: ")}
    if not ran:
        pytest.skip("no SAE fuzz target ran in this session")
    for target, outcomes in ran.items():
        assert outcomes["loaded"] >= 0.05 * sum(outcomes.values()), (target, dict(outcomes))
