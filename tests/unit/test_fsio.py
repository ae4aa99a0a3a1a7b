"""The walk and the hashing on hostile trees: FIFOs, symlink loops, odd names, no permission."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediaforged.fs.fsio import (
    FileProblem,
    WalkStats,
    display_path,
    exclusion_matcher,
    hash_file,
    quick_folders,
    under,
    walk_folders,
)
from tests.conftest import as_nobody as _as_nobody


def test_hash_matches_hashlib_small_and_large(tmp_path: Path) -> None:
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(1000))
    large = tmp_path / "large.bin"
    large.write_bytes(os.urandom(3 * (1 << 20) + 17))
    for path in (small, large):
        result = hash_file(os.fsencode(path), root=os.fsencode(path.parent))
        assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert result.st.st_size == path.stat().st_size


def test_content_type_comes_from_the_bytes(tmp_path: Path) -> None:
    fake = tmp_path / "photo.mp3"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    result = hash_file(os.fsencode(fake), root=os.fsencode(fake.parent))
    assert (result.mime_type, result.media_type) == ("image/png", "image")


def test_a_fifo_is_never_opened_for_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(hash_file, os.fsencode(fifo), root=os.fsencode(tmp_path))
        with pytest.raises(FileProblem) as info:
            future.result(timeout=5)  # a plain open() would block here forever
    assert info.value.code == "not_regular"


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "real.jpg"
    target.write_bytes(b"data")
    link = tmp_path / "link.jpg"
    link.symlink_to(target)
    with pytest.raises(FileProblem) as info:
        hash_file(os.fsencode(link), root=os.fsencode(link.parent))
    assert info.value.code == "not_regular"


def test_vanished_and_stale(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    with pytest.raises(FileProblem) as info:
        hash_file(os.fsencode(path), root=os.fsencode(path.parent))
    assert info.value.code == "vanished"
    path.write_bytes(b"one")
    old = os.lstat(path)
    path.write_bytes(b"three")
    with pytest.raises(FileProblem) as info:
        hash_file(os.fsencode(path), expected=old, root=os.fsencode(path.parent))
    assert info.value.code == "changed_during_read"


def test_a_file_that_grows_while_hashed_is_not_stored(tmp_path: Path) -> None:
    path = tmp_path / "growing.mkv"
    path.write_bytes(os.urandom(3 << 20))
    grown = []

    def grow_once() -> bool:  # called between reads: the copy is still running
        if not grown:
            with open(path, "ab") as f:
                f.write(b"more bytes")
            grown.append(True)
        return False

    with pytest.raises(FileProblem) as info:
        hash_file(os.fsencode(path), cancelled=grow_once, root=os.fsencode(path.parent))
    assert info.value.code == "changed_during_read"


def test_hashing_can_be_cancelled(tmp_path: Path) -> None:
    sparse = tmp_path / "huge.iso"
    with open(sparse, "wb") as f:
        f.truncate(1 << 40)  # 1 TiB of holes: reading it all would take minutes
    with pytest.raises(FileProblem) as info:
        hash_file(os.fsencode(sparse), cancelled=lambda: True, root=os.fsencode(sparse.parent))
    assert info.value.code == "cancelled"


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A folder that an unprivileged user can reach (pytest's tmp_path is under a 0700 dir)."""
    path = Path(tempfile.mkdtemp(prefix="mf-public", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_permission_denied_is_a_file_problem(public_tmp: Path) -> None:
    secret = public_tmp / "secret.jpg"
    secret.write_bytes(b"private")
    secret.chmod(0o600)
    readable = public_tmp / "open.jpg"
    readable.write_bytes(b"public")
    readable.chmod(0o644)

    def attempt(path: Path) -> str:
        try:
            hash_file(os.fsencode(path), root=os.fsencode(path.parent))
        except FileProblem as problem:
            return problem.code
        return "read"

    assert _as_nobody(lambda: attempt(readable)) == "read"  # the folder itself is reachable
    assert _as_nobody(lambda: attempt(secret)) == "permission_denied"


def test_walk_skips_what_is_not_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.jpg").write_bytes(b"1")
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    (tmp_path / "a" / "up").symlink_to("..")
    (tmp_path / "out.jpg").symlink_to("/etc/hostname")
    os.mkfifo(tmp_path / "fifo.mp3")
    odd = os.fsencode(tmp_path) + b"/\xff\xfe.png"
    with open(odd, "wb") as f:
        f.write(b"x")
    (tmp_path / "@eaDir").mkdir()
    (tmp_path / "@eaDir" / "thumb.jpg").write_bytes(b"synology cache")
    (tmp_path / "movie.mkv.part").write_bytes(b"partial")

    stats = WalkStats()
    top = os.fsencode(tmp_path)
    batches = list(walk_folders(top, exclusion_matcher(["@eaDir", "*.part"]), stats, root=top))
    # One list per folder that has files: the top and "a".
    assert sorted(len({os.path.dirname(p) for p, _ in files}) for files in batches) == [1, 1]
    found = {path: st for files in batches for path, st in files}
    assert set(found) == {os.fsencode(tmp_path / "a" / "one.jpg"), odd}
    assert all(stat.S_ISREG(st.st_mode) for st in found.values())
    assert stats.skipped_symlinks == 3
    assert stats.skipped_special == 1
    assert stats.excluded == 2
    assert stats.files == 2


def test_walk_reports_an_unreadable_folder(public_tmp: Path) -> None:
    tmp_path = public_tmp
    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "a.jpg").write_bytes(b"a")
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "b.jpg").write_bytes(b"b")
    closed.chmod(0o700)

    def walk_it() -> tuple[list[bytes], list[bytes]]:
        stats = WalkStats()
        top = os.fsencode(tmp_path)
        walk = walk_folders(top, lambda _n: False, stats, root=top)
        files = [p for batch in walk for p, _ in batch]
        return files, stats.unreadable_dirs

    files, unreadable = _as_nobody(walk_it)
    assert files == [os.fsencode(tmp_path / "open" / "a.jpg")]
    assert unreadable == [os.fsencode(closed)]


def test_walk_of_a_missing_root(tmp_path: Path) -> None:
    stats = WalkStats()
    gone = os.fsencode(tmp_path / "gone")
    assert list(walk_folders(gone, lambda _n: False, stats, root=gone)) == []
    assert stats.unreadable_dirs == [os.fsencode(tmp_path / "gone")]


def test_exclusion_matcher() -> None:
    match = exclusion_matcher([".*", "*.part", "@eaDir"])
    assert match(b".DS_Store") and match(b"x.part") and match(b"@eaDir")
    assert not match(b"photo.jpg") and not match(b"eaDir")
    assert not exclusion_matcher([])(b".hidden")


def test_under_bounds_and_display() -> None:
    low, high = under(b"/lib/a")
    assert low <= b"/lib/a/x" < high
    assert not (low <= b"/lib/ab" < high)
    assert not (low <= b"/lib/a" < high)
    assert display_path(b"/x/\xff.jpg") == "/x/\\xff.jpg"


def test_quick_folders_lists_only_what_changed(tmp_path: Path) -> None:
    for name in ("a", "b", "b/c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.jpg").write_bytes(b"x")
    mtimes: dict[bytes, int] = {}
    top = os.fsencode(tmp_path)
    list(walk_folders(top, lambda _n: None, WalkStats(), root=top, dir_mtimes=mtimes))
    assert len(mtimes) == 4

    stats = WalkStats()
    assert list(quick_folders(mtimes, lambda _n: None, stats, root=top)) == []
    assert stats.listed == []  # nothing changed: no folder listed

    (tmp_path / "a" / "y.jpg").write_bytes(b"y")
    (tmp_path / "a" / "new").mkdir()
    (tmp_path / "a" / "new" / "z.jpg").write_bytes(b"z")
    shutil.rmtree(tmp_path / "b" / "c")
    stats = WalkStats()
    seen = {
        p for files in quick_folders(mtimes, lambda _n: None, stats, root=top) for p, _ in files
    }
    a = os.fsencode(tmp_path / "a")
    b = os.fsencode(tmp_path / "b")
    assert seen == {a + b"/x.jpg", a + b"/y.jpg", a + b"/new/z.jpg", b + b"/x.jpg"}
    assert set(stats.listed) == {a, a + b"/new", b}
    assert stats.gone_dirs == [os.fsencode(tmp_path / "b" / "c")]
    assert os.fsencode(tmp_path / "b" / "c") not in mtimes
