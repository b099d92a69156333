"""The directory of downloadable SAE releases, in SAELens's ``pretrained_saes.yaml`` shape.

``release -> {repo_id, model, links: {model}, saes: [{id, path, ...}]}`` (a top-level ``SAE_LOOKUP`` key, as in
older SAELens files, is accepted too). The shipped ``resources/sae_directory.yaml`` is a small subset; a user's
``<data dir>/pretrained_saes.yaml`` (e.g. SAELens's full file) and a file given explicitly add to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..support import paths
from ..support.errors import AssetError

USER_FILE = "pretrained_saes.yaml"


@dataclass(frozen=True)
class DirectorySAE:
    id: str
    path: str  # folder or file inside the repo


@dataclass(frozen=True)
class Release:
    name: str
    repo_id: str
    model: str  # the model's name as the release gives it (e.g. 'gpt2-small')
    model_repo: str | None  # the model's hub id, from links.model when it is a huggingface.co page
    saes: tuple[DirectorySAE, ...]

    def find(self, sae_id: str) -> DirectorySAE:
        for s in self.saes:
            if s.id == sae_id:
                return s
        ids = ", ".join(s.id for s in self.saes[:8]) + (" …" if len(self.saes) > 8 else "")
        raise AssetError(f"release {self.name!r} has no SAE {sae_id!r}; it has: {ids}")


def _model_repo(links: object) -> str | None:
    url = links.get("model") if isinstance(links, dict) else None
    m = re.fullmatch(r"https?://huggingface\.co/([\w.-]+(?:/[\w.-]+)?)/?", str(url or ""))
    return m.group(1) if m else None


def parse_directory(text: str, where: str = "the SAE directory") -> dict[str, Release]:
    """Releases in a YAML text; entries that lack a repo_id or SAEs with id and path are skipped."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise AssetError(f"{where} is not valid YAML: {e}") from None
    if isinstance(data, dict) and isinstance(data.get("SAE_LOOKUP"), dict):
        data = data["SAE_LOOKUP"]
    if not isinstance(data, dict):
        raise AssetError(f"{where} must map release names to releases (SAELens's pretrained_saes.yaml shape)")
    out: dict[str, Release] = {}
    for name, rel in data.items():
        if not isinstance(rel, dict) or not isinstance(rel.get("repo_id"), str):
            continue
        saes = tuple(
            DirectorySAE(str(s["id"]), str(s["path"]).strip("/"))
            for s in rel.get("saes") or []
            if isinstance(s, dict) and s.get("id") is not None and s.get("path") is not None
        )
        if saes:
            out[str(name)] = Release(str(name), rel["repo_id"], str(rel.get("model") or ""),
                                     _model_repo(rel.get("links")), saes)
    return out


def load_directory(extra: str | Path | None = None) -> dict[str, Release]:
    """The shipped subset, then the user's pretrained_saes.yaml, then ``extra`` (later files win)."""
    files = [paths.resources_dir() / "sae_directory.yaml", paths.data_dir() / USER_FILE]
    if extra is not None:
        if not Path(extra).is_file():
            raise AssetError(f"SAE directory file not found: {extra}")
        files.append(Path(extra))
    out: dict[str, Release] = {}
    for f in files:
        if f.is_file():
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise AssetError(f"cannot read {f}: {e}") from None
            out.update(parse_directory(text, str(f)))
    return out


def resolve(ref: str, directory: dict[str, Release] | None = None) -> tuple[Release, DirectorySAE]:
    """``release/sae_id`` (the id may itself contain '/') -> its release and SAE."""
    directory = load_directory() if directory is None else directory
    release, _, sae_id = ref.strip().partition("/")
    if not sae_id:
        raise AssetError(f"give an SAE as RELEASE/SAE_ID, e.g. gpt2-small-res-jb/blocks.8.hook_resid_pre (got {ref!r})")
    if release not in directory:
        known = ", ".join(sorted(directory)[:10]) or "none"
        raise AssetError(f"unknown SAE release {release!r}; known releases: {known}. Add releases in "
                         f"{paths.data_dir() / USER_FILE} (SAELens's pretrained_saes.yaml shape).")
    rel = directory[release]
    return rel, rel.find(sae_id)


def release_of(repo_id: str, path_in_repo: str, directory: dict[str, Release]) -> tuple[Release, DirectorySAE] | None:
    """The directory entry of a downloaded SAE folder, if it has one (to name its model)."""
    for rel in directory.values():
        if rel.repo_id == repo_id:
            for s in rel.saes:
                if s.path == path_in_repo.strip("/"):
                    return rel, s
    return None
