"""Finding releases and SAEs in the SAE directory: a filter by text (every word must appear in the release's name,
model, repo or loader, or in the SAE's id, path, hook or Neuronpedia id) and by model, and grouping by model. Used by
the manager's list and the ``desktop-sae releases`` command."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .sae_directory import DirectorySAE, Release


@dataclass(frozen=True)
class ReleaseMatch:
    release: Release
    saes: tuple[DirectorySAE, ...]  # the release's SAEs that match (all of them when the release itself matches)


@dataclass(frozen=True)
class ModelGroup:
    model: str
    matches: tuple[ReleaseMatch, ...]

    @property
    def n_saes(self) -> int:
        return sum(len(m.saes) for m in self.matches)


def _words(text: str) -> list[str]:
    return [w for w in text.lower().split() if w]


def search(releases: Iterable[Release], text: str = "", model: str | None = None) -> list[ReleaseMatch]:
    """Releases (sorted by name) with the SAEs that match ``text``; ``model`` keeps the releases whose model name or
    hub id contains it (case-insensitive)."""
    words = _words(text)
    want_model = model.strip().lower() if model else ""
    out: list[ReleaseMatch] = []
    for rel in sorted(releases, key=lambda r: r.name.lower()):
        if want_model and want_model not in rel.model.lower() and want_model not in (rel.model_repo or "").lower():
            continue
        own = rel.text()
        left = [w for w in words if w not in own]
        if not left:
            out.append(ReleaseMatch(rel, rel.saes))
            continue
        saes = tuple(s for s in rel.saes if all(w in s.text() for w in left))
        if saes:
            out.append(ReleaseMatch(rel, saes))
    return out


def group_by_model(matches: Iterable[ReleaseMatch]) -> list[ModelGroup]:
    """Matches grouped under the model name their release gives, models sorted."""
    groups: dict[str, list[ReleaseMatch]] = {}
    for m in matches:
        groups.setdefault(m.release.model or m.release.model_repo or "(no model given)", []).append(m)
    return [ModelGroup(name, tuple(ms)) for name, ms in sorted(groups.items(), key=lambda kv: kv[0].lower())]
