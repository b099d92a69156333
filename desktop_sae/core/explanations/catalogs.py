"""The feature catalog of an SAE read from its folder: statistics, dictionary, explanations and demo sets beside
it, and the user's labels. One way for the loaded SAE, the depth SAEs of attribution graphs and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..features.catalog import FeatureCatalog
from ..features.dictionary import load_dictionary
from ..features.user_labels import sae_folder
from .shown import ShownExplanations

if TYPE_CHECKING:
    from ..presets.file_format import SAEIdentity
    from ..sae.autoencoder import SAE


def catalog_for(sae: SAE, sae_path: str | Path | None, identity: SAEIdentity | None = None,
                explained: ShownExplanations | None = None) -> FeatureCatalog:
    """``explained``: the explanations beside the SAE when the caller has read them already (their ``problems``
    say what could not be read; the catalog goes on without)."""
    from ..presets.demo_concepts import demo_feature_sets
    from ..presets.identity import sae_identity

    path = None if sae_path is None else str(sae_path)
    stats = sae.stats
    if explained is None:
        explained = ShownExplanations.beside(sae_folder(path))
    return FeatureCatalog(int(sae.cfg.d_sae), stats.max_activation if stats else None,
                          stats.density if stats else None, stats.mean_activation if stats else None,
                          load_dictionary(path), path, identity or sae_identity(sae), explained.explanations,
                          demo_feature_sets(path))
