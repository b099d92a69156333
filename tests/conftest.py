import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))  # for `import tiny`


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Config/data dirs per test; the model cache is shared so the bundled model converts once per run."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("DESKTOP_SAE_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("DESKTOP_SAE_DATA_DIR", str(base / "data"))


@pytest.fixture(scope="session")
def bundled_lm():
    """The real bundled SmolLM2-135M-Instruct (converted once into the user cache)."""
    from desktop_sae.core.engine.models import load_model

    return load_model()


@pytest.fixture(scope="session")
def tiny_sae_dir(tmp_path_factory):
    """A random TopK SAE (64 -> 256, k 8) for the tiny model, with statistics, saved in SAELens format."""
    import tiny

    return tiny.save_tiny_sae(tmp_path_factory.mktemp("tiny_sae") / "tiny-sae")


ALLOWED_SKIP = "CUDA"  # the one kind of test a fresh CPU machine cannot run


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """With DESKTOP_SAE_ONLY_CUDA_SKIPS=1 (set by .ci/run), a skip for any other reason fails the run: a missing
    system tool or package must be installed by CI, not hide a test."""
    if os.environ.get("DESKTOP_SAE_ONLY_CUDA_SKIPS") != "1":
        return
    other = [r for r in terminalreporter.stats.get("skipped", []) if ALLOWED_SKIP not in str(r.longrepr)]
    if other:
        terminalreporter.write_line(f"{len(other)} tests skipped for a reason other than {ALLOWED_SKIP}:", red=True)
        for r in other:
            terminalreporter.write_line(f"  {r.nodeid}: {r.longrepr}", red=True)
        terminalreporter._session.exitstatus = pytest.ExitCode.TESTS_FAILED
