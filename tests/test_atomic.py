import os
import stat

import pytest

from desktop_sae.core.support.atomic import atomic_dir, atomic_write_text


def test_atomic_write_replaces_whole_and_keeps_normal_permissions(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_text(p, "one")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
    os.chmod(p, 0o640)
    atomic_write_text(p, "two")
    assert p.read_text() == "two" and stat.S_IMODE(p.stat().st_mode) == 0o640
    assert [f.name for f in tmp_path.iterdir()] == ["a.json"]  # no temp files left


def test_failed_atomic_dir_leaves_the_old_folder(tmp_path):
    target = tmp_path / "folder"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "keep.txt").write_text("new")
            raise RuntimeError("disk full")
    assert (target / "keep.txt").read_text() == "old"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["folder"]
