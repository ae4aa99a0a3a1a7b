"""safepath: a path is reached from its root with no link followed at any component."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
from pathlib import Path

import pytest

from mediaforged.fs.fsio import WalkStats, hash_file, quick_folders, walk_folders
from mediaforged.fs.safepath import (
    DirChain,
    FileProblem,
    isdir_under,
    lstat_under,
    open_under,
    relative_parts,
)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[bytes, Path]:
    """root/a/b/c/f.jpg inside the root, and outside/ with the same shape."""
    for base in (tmp_path / "root", tmp_path / "outside"):
        (base / "a" / "b" / "c").mkdir(parents=True)
        (base / "a" / "b" / "c" / "f.jpg").write_bytes(base.name.encode())
    return os.fsencode(tmp_path / "root"), tmp_path


def _code(call: object, *args: object) -> str:
    try:
        fd = call(*args)  # type: ignore[operator]
    except FileProblem as problem:
        return problem.code
    if isinstance(fd, int):
        os.close(fd)
    return "ok"


@pytest.mark.parametrize("component", ["a", "a/b", "a/b/c"])
def test_a_symlink_at_any_folder_on_the_way_is_refused(
    tree: tuple[bytes, Path], component: str
) -> None:
    root, tmp = tree
    real = tmp / "root" / component
    shutil.rmtree(real)
    real.symlink_to(tmp / "outside" / component)  # same shape: only the link differs
    path = root + b"/a/b/c/f.jpg"
    assert os.path.exists(path)  # a plain open would read outside/.../f.jpg
    assert _code(open_under, root, path) == "symlink"
    assert _code(lstat_under, root, path) == "symlink"
    assert not isdir_under(root, root + b"/a/b/c")
    with pytest.raises(FileProblem) as info:
        hash_file(path, root=root)
    assert info.value.code == "symlink" and component in info.value.message


def test_a_symlink_as_the_file_and_a_fifo(tree: tuple[bytes, Path]) -> None:
    root, tmp = tree
    folder = tmp / "root" / "a"
    (folder / "link.jpg").symlink_to(tmp / "outside" / "a" / "b" / "c" / "f.jpg")
    assert _code(open_under, root, root + b"/a/link.jpg") == "not_regular"
    assert lstat_under(root, root + b"/a/link.jpg").st_mode & 0o170000 == 0o120000  # the link
    os.mkfifo(folder / "pipe.mp4")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a blocking open never returns
        future = pool.submit(_code, open_under, root, root + b"/a/pipe.mp4")
        assert future.result(timeout=5) == "not_regular"
    # A FIFO (or any non-folder) on the way is not a folder.
    assert _code(open_under, root, root + b"/a/pipe.mp4/x.jpg") == "not_directory"


def test_paths_outside_the_root_or_with_dot_dot(tree: tuple[bytes, Path]) -> None:
    root, _tmp = tree
    for path in (
        root + b"/a/../../outside/a/b/c/f.jpg",
        root + b"/./a/b/c/f.jpg",
        root + b"//a/b/c/f.jpg",
        root + b"x/a/b/c/f.jpg",  # a sibling whose name starts like the root's
        b"/etc/passwd",
    ):
        assert _code(open_under, root, path) == "not_under_root", path
    assert relative_parts(root, root) == []
    assert relative_parts(root, root + b"/a/b") == [b"a", b"b"]


def test_a_plain_path_is_read_and_its_stat_matches(tree: tuple[bytes, Path]) -> None:
    root, _tmp = tree
    path = root + b"/a/b/c/f.jpg"
    fd = open_under(root, path)
    try:
        assert os.read(fd, 100) == b"root"
    finally:
        os.close(fd)
    assert lstat_under(root, path).st_ino == os.lstat(path).st_ino
    assert isdir_under(root, root + b"/a/b") and isdir_under(root, root)


def test_the_chain_reuses_folders_and_holds_only_one_way(tree: tuple[bytes, Path]) -> None:
    root, tmp = tree
    for i in range(30):
        (tmp / "root" / "a" / f"d{i}").mkdir()
    before = len(os.listdir("/proc/self/fd"))
    with DirChain() as chain:
        first = chain.folder_fd(root, [b"a", b"b", b"c"])
        assert chain.folder_fd(root, [b"a", b"b", b"c"]) == first  # nothing reopened
        for i in range(30):
            chain.folder_fd(root, [b"a", f"d{i}".encode()])
        assert len(os.listdir("/proc/self/fd")) - before <= 3  # root, a, a/dN
    assert len(os.listdir("/proc/self/fd")) == before


def test_the_walk_skips_a_linked_folder_and_the_quick_walk_drops_it(
    tree: tuple[bytes, Path],
) -> None:
    root, tmp = tree
    mtimes: dict[bytes, int] = {}
    seen = [p for b in walk_folders(root, lambda _n: None, WalkStats(), root=root,
                                    dir_mtimes=mtimes) for p, _ in b]  # fmt: skip
    assert seen == [root + b"/a/b/c/f.jpg"]
    os.rename(tmp / "root" / "a" / "b", tmp / "b_parked")
    (tmp / "root" / "a" / "b").symlink_to(tmp / "outside" / "a" / "b")
    stats = WalkStats()
    assert list(quick_folders(mtimes, lambda _n: None, stats, root=root)) == []
    assert set(stats.gone_dirs) == {root + b"/a/b", root + b"/a/b/c"}  # c is behind the link
    stats = WalkStats()
    assert list(walk_folders(root, lambda _n: None, stats, root=root)) == []
    assert stats.skipped_symlinks == 1
    # A walk whose top is reached through the link lists nothing.
    stats = WalkStats()
    assert list(walk_folders(root + b"/a/b/c", lambda _n: None, stats, root=root)) == []
    assert stats.skipped_symlinks == 1 and stats.unreadable_dirs == []
