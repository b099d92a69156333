"""One entry point for graphs on a loaded model: the SAEs at each depth (the loaded SAE plus the depth SAEs shipped
beside it), the float32 weights (read once), and a graph for any context and target token. The app's worker, the
CLI, the lesson and the evaluation scripts all go through it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..engine.models import LoadedModel
from ..sae.autoencoder import SAE
from ..sae.formats import load_sae
from .attribute import AttributionState, Progress, Settings, Target, attribute
from .depths import AttributionSAEError, DepthSAE, depth_sae, ordered
from .graph import AttributionGraph
from .llama_functional import LlamaWeights, clean_pass, read_weights

DEPTHS_SUFFIX = "-depths"  # resources/sae/<name>-depths/<Lxx>/: the depth SAEs that go with the SAE <name>


def depth_folders(sae_folder: str | Path | None) -> list[Path]:
    """The depth SAE folders shipped beside ``sae_folder`` (``<folder>-depths/*/cfg.json``), by name."""
    if sae_folder is None:
        return []
    root = Path(sae_folder)
    root = root.with_name(root.name + DEPTHS_SUFFIX)
    return sorted(p for p in root.glob("*") if (p / "cfg.json").is_file()) if root.is_dir() else []


def _model_sha(folder: Path) -> str | None:
    try:
        return json.loads((folder / "cfg.json").read_text()).get("metadata", {}).get("model_sha256")
    except (OSError, ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class Candidate:
    token_id: int
    token: str
    prob: float


class Attributor:
    def __init__(self, lm: LoadedModel, saes: Sequence[DepthSAE]) -> None:
        self.lm = lm
        self.saes = ordered(saes)
        self._weights: LlamaWeights | None = None

    @classmethod
    def for_model(cls, lm: LoadedModel, sae: SAE | None, sae_folder: str | Path | None = None,
                  extra: Sequence[str | Path] = (), warnings: list[str] | None = None) -> Attributor:
        """The loaded SAE (when it reads the residual stream) plus the depth SAEs beside its folder and ``extra``
        folders. A depth SAE trained on another model, or one the graphs cannot use, is left out with a warning."""
        cfg = lm.model.config
        n_layers, d_model = int(cfg.num_hidden_layers), int(cfg.hidden_size)
        found: dict[int, DepthSAE] = {}
        notes = warnings if warnings is not None else []
        if sae is not None:
            try:
                d = depth_sae(sae, "loaded SAE", n_layers, d_model, lm.device,
                              folder=str(sae_folder) if sae_folder is not None else None)
                found[d.layer] = d
            except AttributionSAEError as e:
                notes.append(f"the loaded SAE is left out of graphs: {e}")
        for folder in [*depth_folders(sae_folder), *map(Path, extra)]:
            sha = _model_sha(folder)
            if lm.sha256 and sha and sha != lm.sha256:
                notes.append(f"{folder.name}: trained on another model; left out")
                continue
            try:
                d = depth_sae(load_sae(folder), folder.name, n_layers, d_model, lm.device, folder=str(folder))
            except (AttributionSAEError, ValueError, OSError) as e:
                notes.append(f"{folder.name}: {e}")
                continue
            found.setdefault(d.layer, d)
        return cls(lm, list(found.values()))

    @property
    def weights(self) -> LlamaWeights:
        if self._weights is None:
            self._weights = read_weights(self.lm.model)
        return self._weights

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(d.layer for d in self.saes)

    def token(self, i: int) -> str:
        tok: Any = self.lm.tokenizer
        return str(tok.decode([int(i)]))

    def candidates(self, ids: Sequence[int], n: int = 8) -> list[Candidate]:
        """The model's ``n`` most likely next tokens after ``ids`` (for picking a target or an alternative)."""
        cp = clean_pass(self.weights, torch.tensor(list(ids), device=self.weights.embed.device))
        probs = cp.logits.softmax(-1)
        top = probs.topk(n)
        return [Candidate(int(i), self.token(int(i)), float(p)) for p, i in zip(top.values, top.indices)]

    def graph(self, ids: Sequence[int], target_id: int, alt_id: int | None = None,
              settings: Settings = Settings(), progress: Progress | None = None,
              cancelled: Callable[[], bool] | None = None) -> tuple[AttributionGraph, AttributionState]:
        """The graph of ``target_id`` (minus ``alt_id``'s logit) predicted after the context ``ids``."""
        if len(ids) < 1:
            raise ValueError("a graph needs at least one context token")
        vocab = int(self.weights.lm_head.shape[0])
        for name, t in (("target", target_id), ("alternative", alt_id)):
            if t is not None and not 0 <= int(t) < vocab:
                raise ValueError(f"the {name} token id {t} is outside the vocabulary (0..{vocab - 1})")
        if alt_id is not None and int(alt_id) == int(target_id):
            raise ValueError("the alternative token must differ from the target")
        ids_t = torch.tensor([int(i) for i in ids], device=self.weights.embed.device)
        with torch.inference_mode(False):
            graph, state = attribute(
                self.weights, self.saes, ids_t, Target(int(target_id), None if alt_id is None else int(alt_id)),
                [self.token(i) for i in ids_t.tolist()], self.token(target_id),
                None if alt_id is None else self.token(alt_id), settings, progress, cancelled)
        return replace(graph, model_name=self.lm.name), state
