"""Download models and SAEs from the Hugging Face hub into its normal cache, with per-file progress and a cancel
that is honoured within about a tenth of a second.

The repo is listed once (one request, short timeout), the files are chosen and checked against the free disk
space, then fetched one by one with ``hf_hub_download`` at the listed commit. The file that makes the download
show up in the registry — config.json of a model, cfg.json of an SAE folder — comes last, and ``refs/<revision>``
is written only when every file is in: a cancelled or failed download is never listed as a model or SAE.
huggingface_hub writes each file to a temporary name and moves it into the cache when complete, so a cancel
leaves no partial file behind either. Offline (HF_HUB_OFFLINE) or with the hub unreachable, a complete cached
copy is used, else the error says so at once.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..support.atomic import atomic_write_text
from ..support.errors import AssetError, Cancelled
from ..support.hf_cache import cached_snapshot, endpoint, hub_cache_dir, offline, repo_folder
from .hub_errors import hub_error
from .metadata import SAE_WEIGHT_FILES, human_size, sae_location

if TYPE_CHECKING:
    from .sae_directory import Release

Progress = Callable[[float | None, str], None]
TIMEOUT_S = 5.0  # listing the repo and each file's metadata request
POLL_S = 0.1  # how often a running download looks at the cancel flag
CHUNK = 1 << 18  # progress (and the download thread's own cancel check) every 256 KiB, not every 10 MiB
MODEL_PATTERNS = ("*.json", "*.safetensors", "tokenizer*", "*.model", "*.txt", "*.jinja")
_running: list[threading.Thread] = []


@dataclass(frozen=True)
class DownloadResult:
    kind: str  # 'model' | 'sae'
    repo_id: str
    commit: str
    path: str  # the model's snapshot folder, or the SAE's folder inside it
    files: tuple[str, ...]
    downloaded_bytes: int
    from_cache: bool


def download_model(repo_id: str, revision: str = "main", progress: Progress | None = None,
                   cancelled: Callable[[], bool] | None = None) -> DownloadResult:
    """A model repo's config, tokenizer and safetensors weights (never pickled .bin weights)."""
    return _download("model", repo_id, "", revision, progress, cancelled)


def download_sae(repo_id: str, path_in_repo: str, revision: str = "main", progress: Progress | None = None,
                 cancelled: Callable[[], bool] | None = None) -> DownloadResult:
    """The files of one SAE folder (or a params.npz) in a repo."""
    return _download("sae", repo_id, path_in_repo.strip("/"), revision, progress, cancelled)


def download_release_sae(ref: str, directory: dict[str, Release] | None = None, progress: Progress | None = None,
                         cancelled: Callable[[], bool] | None = None) -> DownloadResult:
    """An SAE named ``release/sae_id`` in the SAE directory (SAELens's pretrained_saes.yaml shape)."""
    from .sae_directory import resolve

    release, sae = resolve(ref, directory)
    if sae.pickled:
        raise AssetError(f"{release.name}/{sae.id} is stored as a pickled checkpoint ({sae.path}), which this app "
                         f"never loads (unpickling can run code); choose an SAE stored as safetensors or npz")
    return download_sae(release.repo_id, sae.path, progress=progress, cancelled=cancelled)


def running_downloads() -> list[threading.Thread]:
    """File downloads still winding down after a cancel (each stops at its next MiB or timeout)."""
    _running[:] = [t for t in _running if t.is_alive()]
    return list(_running)


# --- choosing files ----------------------------------------------------------------------------------------
def choose_model_files(listing: dict[str, int], repo_id: str) -> list[str]:
    root = [f for f in listing if "/" not in f and any(fnmatch(f, p) for p in MODEL_PATTERNS)]
    weights = [f for f in root if f.endswith(".safetensors")]
    if any(f.startswith("model") for f in weights):  # skip duplicate exports such as consolidated.safetensors
        root = [f for f in root if not f.endswith(".safetensors") or f.startswith("model")]
    if "config.json" not in root or not weights:
        bins = [f for f in listing if f.endswith((".bin", ".pt", ".pth", ".ckpt"))]
        why = " (it has only pickled weights, which this app never loads)" if bins and not weights else ""
        raise AssetError(f"{repo_id} is not a model this app can load: it needs config.json and .safetensors "
                         f"weights at the top of the repo{why}")
    return sorted(root, key=lambda f: (f == "config.json", f.endswith(".safetensors"), f))


def choose_sae_files(listing: dict[str, int], repo_id: str, path: str) -> list[str]:
    """The files of the SAE at ``path`` (a folder, or one file) in a repo listing, the one that makes it an SAE
    last. A file of a family that keeps one SAE per file brings the configs beside it that its loader reads
    (``families.family_files``: mwhanna's wandb-config.yaml and config.yaml)."""
    from ..sae.family_layouts import family_files, family_of_file

    if path in listing:  # a single file, e.g. .../params.npz or layer12.sae.pt
        parent, _, name = path.rpartition("/")
        prefix = f"{parent}/" if parent else ""
        siblings = [f[len(prefix):] for f in listing if f.startswith(prefix) and "/" not in f[len(prefix):]]
        family = family_of_file(name, siblings)
        return [prefix + n for n in family_files(family, name, siblings)] if family is not None else [path]
    prefix = f"{path}/" if path else ""
    files = [f for f in listing if f.startswith(prefix) and "/" not in f[len(prefix):]]
    if not files:
        tops = sorted({f.split("/")[0] for f in listing if "/" in f})
        shown = ", ".join(tops[:12]) + (" …" if len(tops) > 12 else "")
        raise AssetError(f"{repo_id} has no files under {path!r}" + (f"; its folders: {shown}" if tops else ""))
    names = {PurePosixPath(f).name for f in files}
    family = next((fam for n in sorted(names) if (fam := family_of_file(n, names)) is not None), None)
    if not (("cfg.json" in names and names & set(SAE_WEIGHT_FILES)) or "params.npz" in names or family):
        raise AssetError(
            f"{repo_id}/{path} holds no SAE this app reads (found: {', '.join(sorted(names)[:8])}). It reads SAELens "
            f"folders (cfg.json + sae_weights.safetensors), sparsify folders (cfg.json + sae.safetensors), Gemma "
            f"Scope params.npz files, Gemma Scope 2 folders (params.safetensors + config.json), Qwen Scope "
            f"layer<L>.sae.pt files and mwhanna's layer_<L>.safetensors transcoders.")
    # the file that makes the folder count as an SAE comes last
    return sorted(files, key=lambda f: (PurePosixPath(f).name == "cfg.json"
                                        or family_of_file(PurePosixPath(f).name, names) is not None, f))


# --- the download ------------------------------------------------------------------------------------------
def _download(kind: str, repo_id: str, path: str, revision: str, progress: Progress | None,
              cancelled: Callable[[], bool] | None) -> DownloadResult:
    report = progress or (lambda f, m: None)
    what = f"{kind} {repo_id}" + (f"/{path}" if path else "")
    cache = hub_cache_dir()
    if offline():
        return _from_cache(kind, repo_id, path, revision, cache, what, "offline mode is on (HF_HUB_OFFLINE)")
    report(None, f"Looking up {repo_id} on {endpoint()}")
    try:
        commit, listing = _list_repo(repo_id, revision)
    except AssetError as e:
        if e.unreachable:
            try:
                return _from_cache(kind, repo_id, path, revision, cache, what, str(e))
            except AssetError:
                pass
        raise
    files = choose_model_files(listing, repo_id) if kind == "model" else choose_sae_files(listing, repo_id, path)
    snap = repo_folder(repo_id, cache) / "snapshots" / commit
    todo = [f for f in files if not (snap / f).is_file()]
    need = sum(listing.get(f) or 0 for f in todo)
    _check_disk(need, cache)
    total = max(1, need)
    done = 0
    for i, f in enumerate(todo, 1):
        if cancelled and cancelled():
            raise Cancelled("the download was cancelled")
        size = listing.get(f) or 0
        label = f"{f} ({i}/{len(todo)})"

        def on_bytes(n: int, _label: str = label, _size: int = size, _done: int = done) -> None:
            per_file = f"{human_size(n)} of {human_size(_size)}" if _size else human_size(n)
            report(min(1.0, (_done + n) / total), f"Downloading {_label}: {per_file}")

        report(done / total, f"Downloading {label}")
        _fetch(repo_id, f, commit, cache, on_bytes, cancelled)
        done += size
    if revision != commit:
        atomic_write_text(repo_folder(repo_id, cache) / "refs" / revision, commit)
    report(1.0, f"Downloaded {what}" if todo else f"{what} was already in the cache")
    return _result(kind, repo_id, commit, snap, path, files, need, not todo)


def _result(kind: str, repo_id: str, commit: str, snap: Path, path: str, files: list[str], nbytes: int,
            from_cache: bool) -> DownloadResult:
    where = snap / path if path else snap
    return DownloadResult(kind, repo_id, commit, str(sae_location(where) if kind == "sae" else where), tuple(files),
                          nbytes, from_cache)


def _from_cache(kind: str, repo_id: str, path: str, revision: str, cache: Path, what: str,
                why: str) -> DownloadResult:
    from .metadata import hf_weight_files, saes_in

    snap = cached_snapshot(repo_id, revision, cache)
    if snap is not None:
        target = snap / path if path else snap
        where = sae_location(target) if kind == "sae" and target.exists() else target
        folder = where.parent if where.is_file() else where
        if kind == "model":
            complete = bool((snap / "config.json").is_file() and hf_weight_files(snap))
        else:
            complete = where in saes_in(folder)
        if complete:
            files = tuple(p.relative_to(snap).as_posix() for p in folder.iterdir() if p.is_file())
            return DownloadResult(kind, repo_id, snap.name, str(where), files, 0, True)
    raise AssetError(f"{what} is not in the local Hugging Face cache and {why}. Connect to the internet (and turn "
                     f"HF_HUB_OFFLINE off), or import a local copy instead (desktop-sae import PATH).")


def _list_repo(repo_id: str, revision: str) -> tuple[str, dict[str, int]]:
    """(commit, {file: size}) in one request."""
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=endpoint()).model_info(repo_id, revision=revision, files_metadata=True,
                                                     timeout=TIMEOUT_S)
    except Exception as e:  # noqa: BLE001 - every failure becomes one clear message
        raise hub_error(e, repo_id, revision) from None
    if not info.sha:
        raise AssetError(f"the hub at {endpoint()} gave no commit for {repo_id}; is HF_ENDPOINT a Hugging Face hub?")
    return info.sha, {s.rfilename: int(s.size or 0) for s in (info.siblings or [])}


def _check_disk(need: int, cache: Path) -> None:
    probe = cache
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if need > free:
        raise AssetError(f"the download needs {need / 1e9:.2f} GB of disk space but only {free / 1e9:.2f} GB is free "
                         f"in {cache}")


def _fetch(repo_id: str, filename: str, commit: str, cache: Path, on_bytes: Callable[[int], None],
           cancelled: Callable[[], bool] | None) -> None:
    """``hf_hub_download`` on a helper thread, so that a cancel returns within POLL_S even while a read is
    blocked; the helper stops at its next chunk (its partial file is removed by huggingface_hub)."""
    from huggingface_hub import constants, hf_hub_download

    constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, CHUNK)
    stop = threading.Event()
    box: dict[str, BaseException] = {}

    def run() -> None:
        try:
            hf_hub_download(repo_id, filename, revision=commit, cache_dir=str(cache), endpoint=endpoint(),
                            etag_timeout=TIMEOUT_S, tqdm_class=_bar_class(on_bytes, stop))
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e

    t = threading.Thread(target=run, name=f"download {filename}", daemon=True)
    _running.append(t)
    t.start()
    try:
        while t.is_alive():
            t.join(POLL_S)
            if cancelled and cancelled() and t.is_alive():
                raise Cancelled("the download was cancelled")
    except BaseException:  # a cancel, or Ctrl-C in the CLI: the helper stops at its next chunk
        stop.set()
        raise
    _running.remove(t)
    if "error" in box:
        raise hub_error(box["error"], repo_id, commit, filename) from None


def _bar_class(on_bytes: Callable[[int], None], stop: threading.Event) -> type[Any]:
    """A tqdm stand-in that reports bytes and ends the download when the cancel flag is set."""
    # tqdm ships no type stubs (types-tqdm is not a dev dependency), so the class it returns is typed Any
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    class _Bar(tqdm):
        def __init__(self, *a: Any, **kw: Any) -> None:  # tqdm's own arguments, passed through
            kw["disable"] = True
            kw.pop("name", None)
            super().__init__(*a, **kw)
            self.got, self.shown = int(kw.get("initial") or 0), 0.0

        def update(self, n: float | None = 1) -> None:
            if stop.is_set():
                raise Cancelled("the download was cancelled")
            self.got += int(n or 0)
            now = time.monotonic()
            if now - self.shown >= 0.1 or (self.total and self.got >= self.total):
                self.shown = now
                on_bytes(self.got)

    return _Bar
