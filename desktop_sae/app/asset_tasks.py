"""The download job of the Model & SAE manager: ``fn(session, state)`` that fetches a model and/or an SAE into the
Hugging Face cache on the job runner's thread (the session is not touched). Progress goes out with
``state.progress``; a Cancel is honoured within about a tenth of a second (see ``core.hub_download``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.support.errors import AssetError


@dataclass(frozen=True)
class DownloadRequest:
    model: str | None = None  # a hub model id, e.g. 'openai-community/gpt2'
    sae: str | None = None  # 'release/sae_id' from the SAE directory
    sae_repo: str | None = None  # or a repo ...
    sae_path: str | None = None  # ... and the SAE's folder (or params.npz) inside it

    def steps(self) -> list[tuple[str, str]]:
        """(kind, what) in download order; raises AssetError when nothing (or half an SAE) is asked for."""
        out = []
        if self.model:
            out.append(("model", self.model.strip()))
        if self.sae:
            out.append(("release", self.sae.strip()))
        elif self.sae_repo or self.sae_path:
            if not (self.sae_repo and self.sae_path is not None):
                raise AssetError("an SAE by repo needs both the repo id and the path inside it")
            out.append(("repo", f"{self.sae_repo.strip()}:{self.sae_path.strip()}"))
        if not out:
            raise AssetError("nothing to download: give a model id or an SAE")
        return out


def download_job(req: DownloadRequest, directory_file: str | None = None):
    """Returns the ``DownloadResult`` of each step, in order (immutable)."""
    steps = req.steps()

    def fn(_session, state):
        from ..core.assets import downloads as hd
        from ..core.assets.sae_directory import load_directory

        directory = load_directory(directory_file) if any(k == "release" for k, _ in steps) else None
        results = []
        for i, (kind, what) in enumerate(steps):
            def progress(f, msg, i=i):
                state.progress(None if f is None else (i + f) / len(steps), msg)

            if kind == "model":
                res = hd.download_model(what, progress=progress, cancelled=state.cancelled)
            elif kind == "release":
                res = hd.download_release_sae(what, directory, progress=progress, cancelled=state.cancelled)
            else:
                repo, _, path = what.partition(":")
                res = hd.download_sae(repo, path, progress=progress, cancelled=state.cancelled)
            results.append(res)
        return tuple(results)

    return fn
