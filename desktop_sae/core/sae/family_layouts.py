"""The released SAE families' file layouts, by name alone (no torch, so that listing a hub repository or the SAE
directory stays light): which file is which family's SAE, which files one SAE needs, and where a Gemma Scope 2
SAE reads from its folder. ``families.py`` reads the files; ``core/assets`` lists and downloads them by the same
rules."""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

from ..support.text_enum import TextEnum

GEMMASCOPE2_WEIGHTS = "params.safetensors"
QWENSCOPE_FILE = re.compile(r"layer(\d+)\.sae\.pt")
QWENSCOPE_REPO = re.compile(r"SAE-Res-(.+)-W(\d+)K-L0_(\d+)")
MWHANNA_FILE = re.compile(r"layer_(\d+)\.safetensors")
MWHANNA_CONFIGS = ("wandb-config.yaml", "wanb-config.yaml")  # some of these repositories spell it the second way
MWHANNA_BASE_CONFIG = "config.yaml"
# the model (Hugging Face id, residual width) of each Qwen Scope repository's model part, as SAELens 6.54 lists them
QWENSCOPE_MODELS = {key: (f"Qwen/{key}", width) for key, width in (
    ("Qwen3-1.7B-Base", 2048), ("Qwen3-8B-Base", 4096), ("Qwen3-30B-A3B-Base", 2048), ("Qwen3.5-2B-Base", 2048),
    ("Qwen3.5-9B-Base", 4096), ("Qwen3.5-27B", 5120), ("Qwen3.5-35B-A3B-Base", 2048))}
# Gemma Scope 2 site folder -> (hook the SAE reads, hook it writes when that differs, Hugging Face module outputs)
GEMMASCOPE2_SITES = {
    "resid_post": ("hook_resid_post", None, "model.layers.{L}.output", None),
    "attn_out": ("attn.hook_z", None, "model.layers.{L}.self_attn.o_proj.input", None),
    "mlp_out": ("hook_mlp_out", None, "model.layers.{L}.post_feedforward_layernorm.output", None),
    "transcoder": ("hook_mlp_in", "hook_mlp_out", "model.layers.{L}.pre_feedforward_layernorm.output",
                   "model.layers.{L}.post_feedforward_layernorm.output"),
}
# <site>[_all]/layer_<L>_… at the end of a path (SAELens's "-all" releases keep every layer in <site>_all/)
_GEMMASCOPE2_PATH = re.compile(r"(?:^|/)(" + "|".join(GEMMASCOPE2_SITES) + r")(?:_all)?/layer_(\d+)(?:_[^/]*)?/?$")
SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


class Family(TextEnum):
    """A released family read in its authors' layout; the text is the format name the app records."""

    GEMMA_SCOPE_2 = "gemmascope2"  # a folder: params.safetensors (+ config.json)
    QWEN_SCOPE = "qwenscope"  # a file per layer: layer<L>.sae.pt
    MWHANNA = "mwhanna"  # a file per layer: layer_<L>.safetensors beside the repository's configs


ONE_SAE_PER_FILE = (Family.QWEN_SCOPE, Family.MWHANNA)  # the SAE is a file; its folder holds one per layer


# --- which family: one rule, for files on disk and for a hub repository's listing ------------------------------
def family_of_file(name: str, siblings: Collection[str] = ()) -> Family | None:
    """The family whose SAE file is called ``name``, given the names of the files beside it."""
    if name == GEMMASCOPE2_WEIGHTS:
        return Family.GEMMA_SCOPE_2
    if QWENSCOPE_FILE.fullmatch(name):
        return Family.QWEN_SCOPE
    if MWHANNA_FILE.fullmatch(name) and any(n in siblings for n in MWHANNA_CONFIGS):
        return Family.MWHANNA
    return None


def family_files(family: Family, name: str, siblings: Collection[str]) -> list[str]:
    """The files (names among ``siblings``) one SAE of ``family`` whose own file is ``name`` needs, that file
    last: a download that stops before it leaves nothing that looks like an SAE."""
    extra = {Family.GEMMA_SCOPE_2: ("config.json",), Family.QWEN_SCOPE: (),
             Family.MWHANNA: (*MWHANNA_CONFIGS, MWHANNA_BASE_CONFIG)}[family]
    return [n for n in extra if n in siblings] + [name]


def detect_family(path: Path) -> tuple[Family, Path] | None:
    """(family, folder) when ``path`` is one of these releases' files or folders, else None."""
    if path.is_file():
        family = family_of_file(path.name, [n for n in MWHANNA_CONFIGS if (path.parent / n).is_file()])
        return (family, path.parent) if family is not None else None
    if (path / GEMMASCOPE2_WEIGHTS).is_file():
        return Family.GEMMA_SCOPE_2, path
    return None


def one_file_saes(folder: Path) -> list[Path]:
    """The SAE files in ``folder`` of the families that keep one SAE per file (Qwen Scope, mwhanna)."""
    names = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    return [folder / n for n in names if family_of_file(n, names) in ONE_SAE_PER_FILE]


def gemmascope2_site(path: str) -> tuple[str, int] | None:
    """(site, layer) of a Gemma Scope 2 SAE from its folder's path (``…/resid_post/layer_12_width_16k_l0_medium``)."""
    m = _GEMMASCOPE2_PATH.search(path)
    return (m.group(1), int(m.group(2))) if m else None
