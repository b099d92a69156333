"""Downloads of the Model & SAE manager as a run: a model and/or an SAE fetched into the Hugging Face cache on the
inference thread (the session is not touched), with progress; a Cancel is honoured within about a tenth of a second
(see ``core.assets.downloads``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.support.errors import AssetError
from .job_handles import Jobs
from .messages import JobKind
from .runs import Run

if TYPE_CHECKING:
    from ..core.assets.downloads import DownloadResult
    from ..core.engine.session import Session
    from .jobs import JobFn, JobState


@dataclass(frozen=True)
class DownloadRequest:
    model: str | None = None  # a hub model id, e.g. 'openai-community/gpt2'
    sae: str | None = None  # 'release/sae_id' from the SAE directory
    sae_repo: str | None = None  # or a repo ...
    sae_path: str | None = None  # ... and the SAE's folder (or params.npz) inside it

    def steps(self) -> list[tuple[str, str]]:
        """(kind, what) in download order; raises AssetError when nothing (or half an SAE) is asked for."""
        out: list[tuple[str, str]] = []
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


def download_job(req: DownloadRequest, directory_file: str | None = None) -> JobFn[tuple[DownloadResult, ...]]:
    """Returns the ``DownloadResult`` of each step, in order (immutable)."""
    steps = req.steps()

    def fn(_session: Session | None, state: JobState) -> tuple[DownloadResult, ...]:
        from ..core.assets import downloads as hd
        from ..core.assets.sae_directory import load_directory

        directory = load_directory(directory_file) if any(k == "release" for k, _ in steps) else None
        results: list[DownloadResult] = []
        for i, (kind, what) in enumerate(steps):
            def progress(f: float | None, msg: str, i: int = i) -> None:
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


class DownloadRun(Run[object, "tuple[DownloadResult, ...]"]):
    kind = JobKind.DOWNLOAD

    def __init__(self, jobs: Jobs, directory_file: str | None = None):
        super().__init__(jobs)
        self.directory_file = directory_file

    def start(self, req: DownloadRequest) -> int:
        """Start the download; raises AssetError before anything starts when the request is incomplete."""
        req.steps()
        return self._start(download_job(req, self.directory_file)).id
