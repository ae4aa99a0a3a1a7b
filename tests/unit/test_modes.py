"""fs.modes on real folders: private whatever the umask, and nothing changed that is not ours."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediaforged.fs.modes import ModeChange, create_private_file, private_dir, tighten


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def login_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_missing_folders_are_made_private_and_an_existing_parent_is_left_alone(
    tmp_path: Path, login_umask: None
) -> None:
    os.chmod(tmp_path, 0o755)
    deep = tmp_path / "a" / "b" / "c"
    assert private_dir(deep) is None
    assert [_mode(p) for p in (deep, deep.parent, deep.parent.parent)] == [0o750] * 3
    assert _mode(tmp_path) == 0o755  # there before: not ours


def test_a_stricter_umask_still_applies(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        private_dir(tmp_path / "d")
        create_private_file(tmp_path / "f")
    finally:
        os.umask(old)
    assert (_mode(tmp_path / "d"), _mode(tmp_path / "f")) == (0o700, 0o600)


def test_an_existing_wide_folder_is_tightened_or_only_reported(tmp_path: Path) -> None:
    ours, given = tmp_path / "ours", tmp_path / "given"
    for folder in (ours, given):
        folder.mkdir()
        os.chmod(folder, 0o2775)  # setgid kept: only the bits beyond 0750 go
    assert private_dir(ours) == ModeChange(ours, 0o2775, 0o2750)
    assert _mode(ours) == 0o2750
    assert private_dir(given, ours=False) == ModeChange(given, 0o2775, None)
    assert _mode(given) == 0o2775
    assert private_dir(ours) is None  # already within the limit


def test_files_are_created_private_and_links_never_followed(
    tmp_path: Path, login_umask: None
) -> None:
    target = tmp_path / "catalog.db"
    assert create_private_file(target) is True
    assert _mode(target) == 0o640
    assert create_private_file(target) is False
    outside = tmp_path / "outside"
    outside.write_text("x")
    os.chmod(outside, 0o644)
    link = tmp_path / "catalog.db-wal"
    link.symlink_to(outside)
    assert tighten(link, 0o640) is None
    assert _mode(outside) == 0o644
