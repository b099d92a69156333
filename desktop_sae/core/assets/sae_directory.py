"""The directory of downloadable SAE releases, in SAELens's ``pretrained_saes.yaml`` shape.

``release -> {repo_id, model, conversion_func, links: {model}, config_overrides, saes: [{id, path, neuronpedia, l0,
...}]}`` (a top-level ``SAE_LOOKUP`` key, as in older SAELens files, is accepted too). It is read, later sources
winning on a release name, from: the shipped ``resources/sae_directory.yaml`` (a small hand-written subset), the
installed sae-lens's own file when sae-lens is installed (``directory_files``: every release it knows), the user's
``<data dir>/pretrained_saes.yaml`` and a file given explicitly. Each release says which source it came from.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..sae.family_layouts import (
    GEMMASCOPE2_SITES,
    MWHANNA_FILE,
    QWENSCOPE_FILE,
    Family,
    family_of_file,
    gemmascope2_site,
)
from ..support import paths
from ..support.errors import AssetError
from ..support.text_enum import TextEnum
from .directory_files import find_installed_saelens, read_yaml_cached

USER_FILE = "pretrained_saes.yaml"
PICKLED = (".pt", ".pth", ".ckpt", ".pkl", ".bin")
_HOOK = re.compile(r"blocks\.\d+\.(?:hook_resid_pre|hook_resid_mid|hook_resid_post|hook_mlp_out|hook_mlp_in|"
                   r"hook_attn_out|attn\.hook_z|hook_z)")
_LLAMA_SCOPE = re.compile(r"^l(\d+)([rma])_")
_LLAMA_SCOPE_HOOK = {"r": "hook_resid_post", "m": "hook_mlp_out", "a": "hook_attn_out"}
_WIDTH = re.compile(r"(?:width_|-w|_w)(\d+)([km])(?![a-z])", re.IGNORECASE)


class DirectorySource(TextEnum):
    BUILT_IN = "built-in subset"
    SAELENS = "installed sae-lens"
    USER_FILE = "user file"
    FILE = "file given"


@dataclass(frozen=True)
class SourceInfo:
    kind: DirectorySource
    path: str
    version: str | None = None  # the sae-lens version, for SAELENS
    releases: int = 0

    def describe(self) -> str:
        with_version = self.kind is DirectorySource.SAELENS and self.version
        what = f"{self.kind} {self.version}" if with_version else str(self.kind)
        return f"{what} ({self.releases} release{'' if self.releases == 1 else 's'}, {self.path})"


@dataclass(frozen=True)
class DirectorySAE:
    id: str
    path: str  # folder or file inside the repo
    neuronpedia: str | None = None  # "model/source", e.g. "gemma-3-270m-it/12-gemmascope-2-res-16k"
    l0: float | None = None
    d_sae: int | None = None  # when the entry or its name states the width
    hook: str | None = None  # as given, else read from the SAE's id or folder (see ``hook_hint``)

    @property
    def pickled(self) -> bool:
        """Stored as a pickled checkpoint that this app has no pickle-free reader for (listed, refused at
        download); Qwen Scope's layer<L>.sae.pt are read without unpickling (core/sae/torch_zip.py)."""
        name = self.path.rpartition("/")[2]
        return name.lower().endswith(PICKLED) and family_of_file(name) is not Family.QWEN_SCOPE

    def text(self) -> str:
        """What a filter matches against (lower case)."""
        return " ".join((self.id, self.path, self.hook or "", self.neuronpedia or "")).lower()


@dataclass(frozen=True)
class Release:
    name: str
    repo_id: str
    model: str  # the model's name as the release gives it (e.g. 'gpt2-small', 'google/gemma-3-270m-it')
    model_repo: str | None  # the model's hub id: links.model when it is a huggingface.co page, or an 'org/name' model
    saes: tuple[DirectorySAE, ...]
    conversion_func: str | None = None  # SAELens's loader for the release's files (None: the SAELens format)
    source: DirectorySource = DirectorySource.BUILT_IN

    def find(self, sae_id: str) -> DirectorySAE:
        for s in self.saes:
            if s.id == sae_id:
                return s
        ids = ", ".join(s.id for s in self.saes[:8]) + (" …" if len(self.saes) > 8 else "")
        raise AssetError(f"release {self.name!r} has no SAE {sae_id!r}; it has: {ids}")

    def text(self) -> str:
        return " ".join((self.name, self.model, self.repo_id, self.conversion_func or "")).lower()


@dataclass(frozen=True)
class SAEDirectory:
    releases: dict[str, Release]
    sources: tuple[SourceInfo, ...]
    problems: tuple[str, ...] = ()  # files that could not be read (the others are still listed)

    @property
    def n_saes(self) -> int:
        return sum(len(r.saes) for r in self.releases.values())

    def describe(self) -> str:
        """Where the list came from, for the manager and the CLI."""
        used = " + ".join(s.describe() for s in self.sources) or "no source"
        return f"{len(self.releases)} releases, {self.n_saes} SAEs from {used}"


def _model_repo(links: object, model: str) -> str | None:
    url = links.get("model") if isinstance(links, dict) else None
    m = re.fullmatch(r"https?://huggingface\.co/([\w.-]+(?:/[\w.-]+)?)/?", str(url or ""))
    if m:
        return m.group(1)
    return model if re.fullmatch(r"[\w.-]+/[\w.-]+", model) else None


def hook_hint(sae_id: str, path: str, release: str, given: object = None) -> str | None:
    """The SAE's hook point: as given, else a TransformerLens hook name in its id or path, else what the folder
    layouts of Gemma Scope 2 (``resid_post/layer_12_…``, ``transcoder/layer_3_…``: read at the MLP input), Gemma
    Scope (``layer_12/width_16k/…`` in a ``-res`` / ``-mlp`` / ``-att`` release), Llama Scope (``l12r_8x``),
    qwen-scope (``layer12``: the residual stream) and per-layer transcoders (``layer_12``: the MLP input) say."""
    if isinstance(given, str) and given:
        return given
    for text in (sae_id, path):
        m = _HOOK.search(text)
        if m:
            return m.group(0)
    gs2 = gemmascope2_site(path)
    if gs2 is not None:
        return f"blocks.{gs2[1]}.{GEMMASCOPE2_SITES[gs2[0]][0]}"
    m = re.match(r"layer_(\d+)/width_", path)
    if m:
        site = next((h for k, h in (("-res", "hook_resid_post"), ("-mlp", "hook_mlp_out"), ("-att", "attn.hook_z"),
                                     ("-transcoders", "hook_mlp_in")) if k in release), None)
        return f"blocks.{m.group(1)}.{site}" if site else None
    m = _LLAMA_SCOPE.match(sae_id)
    if m:
        return f"blocks.{m.group(1)}.{_LLAMA_SCOPE_HOOK[m.group(2)]}"
    file = path.rpartition("/")[2]
    m = QWENSCOPE_FILE.fullmatch(file)  # qwen-scope: one residual-stream SAE per layer, layer<N>.sae.pt
    if m and "qwen-scope" in release:
        return f"blocks.{m.group(1)}.hook_resid_post"
    m = MWHANNA_FILE.fullmatch(file) or re.fullmatch(r"layer_?(\d+)", sae_id)  # per-layer transcoders: MLP input
    return f"blocks.{m.group(1)}.hook_mlp_in" if m and "transcoder" in release else None


def width_hint(given: object, *names: str) -> int | None:
    """d_sae as given, else from a width in the names: ``16k``, ``-W32K``, ``-W80K`` are that many 1024s and ``1m``
    2^20, but ``65k``, ``131k``, ``262k`` (Gemma Scope's rounded powers of two) the power of two within 1 %."""
    if isinstance(given, int) and not isinstance(given, bool) and given > 0:
        return given
    for name in names:
        m = _WIDTH.search(name)
        if m and int(m.group(1)) > 0:
            n = int(m.group(1))
            if m.group(2).lower() == "m":
                return n << 20
            nearest = 2 ** round(math.log2(n * 1000))
            return nearest if n & (n - 1) and abs(nearest - n * 1000) < 0.01 * nearest else n * 1024
    return None


def _number(v: object) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _sae(s: dict[str, Any], release: str, repo_id: str, hook_given: object) -> DirectorySAE:
    sid, path = str(s["id"]), str(s["path"]).strip("/")
    np_id = s.get("neuronpedia")
    return DirectorySAE(sid, path, np_id if isinstance(np_id, str) and "/" in np_id else None, _number(s.get("l0")),
                        width_hint(s.get("d_sae"), sid, path, repo_id),
                        hook_hint(sid, path, release, s.get("hook_name") or hook_given))


def parse_directory_data(data: object, where: str = "the SAE directory",
                         source: DirectorySource = DirectorySource.FILE) -> dict[str, Release]:
    """Releases in parsed YAML data; entries that lack a repo_id or SAEs with id and path are skipped."""
    if isinstance(data, dict) and isinstance(data.get("SAE_LOOKUP"), dict):
        data = data["SAE_LOOKUP"]
    if not isinstance(data, dict):
        raise AssetError(f"{where} must map release names to releases (SAELens's pretrained_saes.yaml shape)")
    out: dict[str, Release] = {}
    for name, rel in data.items():
        if not isinstance(rel, dict) or not isinstance(rel.get("repo_id"), str):
            continue
        given = rel.get("config_overrides")
        overrides = given if isinstance(given, dict) else {}
        saes = tuple(_sae(s, str(name), rel["repo_id"], overrides.get("hook_name"))
                     for s in rel.get("saes") or []
                     if isinstance(s, dict) and s.get("id") is not None and s.get("path") is not None)
        if saes:
            model = str(rel.get("model") or "")
            conv = rel.get("conversion_func")
            out[str(name)] = Release(str(name), rel["repo_id"], model, _model_repo(rel.get("links"), model), saes,
                                     conv if isinstance(conv, str) else None, source)
    return out


def parse_directory(text: str, where: str = "the SAE directory",
                    source: DirectorySource = DirectorySource.FILE) -> dict[str, Release]:
    """Releases in a YAML text (see ``parse_directory_data``)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise AssetError(f"{where} is not valid YAML: {e}") from None
    return parse_directory_data(data, where, source)


def built_in_file() -> Path:
    return paths.resources_dir() / "sae_directory.yaml"


def load_sae_directory(extra: str | Path | None = None, use_cache: bool = True) -> SAEDirectory:
    """The shipped subset, then the installed sae-lens's file, the user's pretrained_saes.yaml and ``extra``
    (later files win on a release name). The installed or user file that cannot be read is named in ``problems``
    and the rest is listed; the shipped subset or ``extra`` that cannot be read raises ``AssetError``."""
    files: list[tuple[DirectorySource, Path, str | None]] = [(DirectorySource.BUILT_IN, built_in_file(), None)]
    problems: list[str] = []
    try:
        installed = find_installed_saelens()
    except AssetError as e:
        installed = None
        problems.append(str(e))
    if installed is not None:
        files.append((DirectorySource.SAELENS, installed.yaml_path, installed.version))
    files.append((DirectorySource.USER_FILE, paths.data_dir() / USER_FILE, None))
    if extra is not None:
        if not Path(extra).is_file():
            raise AssetError(f"SAE directory file not found: {extra}")
        files.append((DirectorySource.FILE, Path(extra), None))
    releases: dict[str, Release] = {}
    used: list[tuple[DirectorySource, Path, str | None]] = []
    for kind, f, version in files:
        if not f.is_file():
            continue
        try:
            releases.update(parse_directory_data(
                read_yaml_cached(f, use_cache and kind is not DirectorySource.BUILT_IN), str(f), kind))
        except AssetError as e:
            if kind in (DirectorySource.BUILT_IN, DirectorySource.FILE):
                raise
            problems.append(f"the {kind} was not read: {e}")
            continue
        used.append((kind, f, version))
    # each source with the releases it still gives (a later file may replace a release of the same name)
    counts = {kind: sum(r.source is kind for r in releases.values()) for kind, _f, _v in used}
    return SAEDirectory(releases, tuple(SourceInfo(k, str(f), v, counts[k]) for k, f, v in used), tuple(problems))


def load_directory(extra: str | Path | None = None) -> dict[str, Release]:
    """The releases of ``load_sae_directory`` by name."""
    return load_sae_directory(extra).releases


def resolve(ref: str, directory: dict[str, Release] | None = None) -> tuple[Release, DirectorySAE]:
    """``release/sae_id`` (the id may itself contain '/') -> its release and SAE."""
    directory = load_directory() if directory is None else directory
    release, _, sae_id = ref.strip().partition("/")
    if not sae_id:
        raise AssetError(f"give an SAE as RELEASE/SAE_ID, e.g. gpt2-small-res-jb/blocks.8.hook_resid_pre (got {ref!r})")
    if release not in directory:
        known = ", ".join(sorted(directory)[:10]) or "none"
        raise AssetError(f"unknown SAE release {release!r}; known releases: {known}. Add releases in "
                         f"{paths.data_dir() / USER_FILE} (SAELens's pretrained_saes.yaml shape), or install "
                         f"sae-lens to list all of its releases.")
    rel = directory[release]
    return rel, rel.find(sae_id)


def release_of(repo_id: str, path_in_repo: str, directory: dict[str, Release]) -> tuple[Release, DirectorySAE] | None:
    """The directory entry of a downloaded SAE folder, if it has one (to name its model and Neuronpedia id)."""
    path = path_in_repo.strip("/")
    for rel in directory.values():
        if rel.repo_id == repo_id:
            for s in rel.saes:
                if s.path == path:
                    return rel, s
    return None
