"""What sources/folderwatch.py (and the watcher above it) rely on in watchfiles' private core,
``watchfiles._rust_notify.RustNotify``: pyproject pins watchfiles to the minor version this
was checked against, and these tests say whether a new version still behaves so (run them
before moving the pin). Real inotify watches on real folders, as the daemon has them.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchfiles import Change
from watchfiles._rust_notify import RustNotify, WatchfilesRustInternalError

from mediaforged.sources import folderwatch

Events = set[tuple[int, str]]

DEBOUNCE_MS, STEP_MS = 50, 10  # what the tests of watchfiles itself use: fast and still real


def _arm(*folders: Path) -> RustNotify:
    # folderwatch's own call: non-recursive, no polling, permission errors not ignored.
    notify, armed = folderwatch._arm(os.fsencode(f) for f in folders)
    assert armed == {os.fsencode(f) for f in folders if f.is_dir()}
    return notify


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, RustNotify]]:
    notify = _arm(tmp_path)
    yield tmp_path, notify
    notify.close()


def _collect(notify: RustNotify, until: Callable[[Events], bool], timeout: float = 10) -> Events:
    """Batches from watch() until ``until`` holds of all seen so far (or the timeout)."""
    seen: Events = set()
    deadline = time.monotonic() + timeout
    while not until(seen) and time.monotonic() < deadline:
        result = notify.watch(DEBOUNCE_MS, STEP_MS, 200, None)
        if isinstance(result, set):
            seen |= result
        else:
            assert result == "timeout", result
    return seen


def test_the_signatures_folderwatch_calls() -> None:
    arm = inspect.signature(RustNotify)
    assert list(arm.parameters) == [
        "watch_paths",
        "debug",
        "force_polling",
        "poll_delay_ms",
        "recursive",
        "ignore_permission_denied",
    ]
    watch = inspect.signature(RustNotify.watch)
    assert list(watch.parameters) == ["self", "debounce_ms", "step_ms", "timeout_ms", "stop_event"]
    assert callable(RustNotify.close)
    # The watcher turns the ints of a batch into Change values.
    assert (Change(1), Change(2), Change(3)) == (Change.added, Change.modified, Change.deleted)


def test_a_batch_is_a_set_of_change_and_path(watched: tuple[Path, RustNotify]) -> None:
    folder, notify = watched
    kept, gone, moved = folder / "kept.jpg", folder / "gone.jpg", folder / "moved.jpg"
    kept.write_bytes(b"1")
    gone.write_bytes(b"2")
    moved.write_bytes(b"3")
    assert _collect(notify, lambda s: len({p for _, p in s}) == 3) >= {
        (Change.added, str(kept)),
        (Change.added, str(gone)),
        (Change.added, str(moved)),
    }
    with open(kept, "ab") as f:
        f.write(b"more")
    gone.unlink()
    moved.rename(folder / "renamed.jpg")
    expected = {
        (Change.modified, str(kept)),
        (Change.deleted, str(gone)),
        # A rename is a delete and an add with no link between them: the watcher matches
        # moves itself (dev and inode, then hash).
        (Change.deleted, str(moved)),
        (Change.added, str(folder / "renamed.jpg")),
    }
    seen = _collect(notify, lambda s: expected <= s)
    assert expected <= seen
    assert all(isinstance(c, int) and isinstance(p, str) for c, p in seen)


def test_not_recursive_means_this_folder_only(watched: tuple[Path, RustNotify]) -> None:
    folder, notify = watched
    sub = folder / "sub"
    sub.mkdir()  # seen in its parent: the watcher lists and arms it
    assert (Change.added, str(sub)) in _collect(notify, bool)
    (sub / "inside.jpg").write_bytes(b"x")
    (folder / "marker.jpg").write_bytes(b"y")  # a change that is seen, to know when to stop
    seen = _collect(notify, lambda s: any(p.endswith("marker.jpg") for _, p in s))
    assert (Change.added, str(folder / "marker.jpg")) in seen
    assert not any(p.startswith(str(sub) + "/") for _, p in seen), seen


def test_timeout_and_stop(watched: tuple[Path, RustNotify]) -> None:
    _, notify = watched
    started = time.monotonic()
    assert notify.watch(DEBOUNCE_MS, STEP_MS, 100, None) == "timeout"
    assert time.monotonic() - started < 5
    # folderwatch's stop is a threading.Event set from the event loop while a worker thread
    # is inside watch() (its timeout is 2 s): watch() must come back with "stop".
    stop = threading.Event()
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(notify.watch(50, 10, 60_000, stop)))
    waiter.start()
    time.sleep(0.2)
    started = time.monotonic()
    stop.set()
    waiter.join(10)
    assert result == ["stop"]
    assert time.monotonic() - started < 5


def test_a_new_watch_works_before_the_old_one_closes(tmp_path: Path) -> None:
    # A re-arm builds the new watch first, then closes the old one: both on the same folders.
    old = _arm(tmp_path)
    new = _arm(tmp_path)
    try:
        (tmp_path / "between.jpg").write_bytes(b"x")
        old.close()
        (tmp_path / "after.jpg").write_bytes(b"y")
        names = {"between.jpg", "after.jpg"}
        seen = _collect(new, lambda s: names <= {os.path.basename(p) for _, p in s})
        assert names <= {os.path.basename(p) for _, p in seen}
    finally:
        new.close()


def test_a_folder_that_does_not_exist_fails_the_whole_arm(tmp_path: Path) -> None:
    # Why folderwatch._arm keeps only the folders that still exist (and so arms the rest).
    with pytest.raises(FileNotFoundError):
        RustNotify([str(tmp_path), str(tmp_path / "gone")], False, False, 0, False, False)
    _arm(tmp_path, tmp_path / "gone").close()


def test_a_non_utf8_name_ends_the_watch_with_an_internal_error(
    watched: tuple[Path, RustNotify],
) -> None:
    # The watcher catches it (an Exception: a RuntimeError), reconciles the root and re-arms.
    folder, notify = watched
    with open(os.fsencode(folder) + b"/caf\xe9.jpg", "wb") as f:
        f.write(b"x")
    with pytest.raises(WatchfilesRustInternalError) as info:
        _collect(notify, lambda _s: False, timeout=5)
    assert isinstance(info.value, RuntimeError)


_LIMIT_PROBE = """
import os, sys
from watchfiles._rust_notify import RustNotify
from mediaforged.sources.folderwatch import _arm
folders = sys.argv[2:]
try:
    if sys.argv[1] == "ours":
        _arm([os.fsencode(f) for f in folders])[0].close()
    else:
        RustNotify(folders, False, False, 0, False, True).close()
    print("armed")
except OSError as exc:
    print("OSError:", exc)
"""


def test_the_watch_limit_is_an_oserror_unless_permission_errors_are_ignored(
    tmp_path: Path,
) -> None:
    # The watcher falls back to polling on an OSError saying "watch limit"; folderwatch passes
    # ignore_permission_denied=False because True swallows that error too.
    folders = []
    for i in range(20):
        (tmp_path / f"d{i}").mkdir()
        folders.append(str(tmp_path / f"d{i}"))
    lowered = 'echo 10 > /proc/sys/user/max_inotify_watches && exec "$@"'
    in_namespace = ["unshare", "-U", "-r", "sh", "-c", lowered, "sh", sys.executable, "-c"]
    answers = {}
    for mode in ("ours", "ignore"):
        run = subprocess.run(
            [*in_namespace, _LIMIT_PROBE, mode, *folders],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if run.returncode != 0 and "unshare" in run.stderr:
            pytest.skip(f"no user namespace to lower the inotify limit in: {run.stderr!r}")
        assert run.returncode == 0, run.stderr
        answers[mode] = run.stdout.strip()
    assert answers["ours"].startswith("OSError:") and "watch limit" in answers["ours"]
    assert answers["ignore"] == "armed"
