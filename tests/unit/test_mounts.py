"""The mount table reader and the watch-mode choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaforged.fs.mounts import inotify_usage, is_remote, mount_of, read_mounts, watch_mode_for

TABLE = """\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:40 / /mnt/nas rw,relatime shared:2 - nfs4 nas:/volume1 rw,vers=4.1
31 22 0:41 / /mnt/My\\040Share rw - cifs //nas/My\\040Share rw
32 30 0:42 / /mnt/nas/local rw - ext4 /dev/sdb1 rw
33 22 0:43 / /media/usb rw - fuseblk /dev/sdc1 rw
34 22 0:44 / /home/me/remote rw - fuse.sshfs me@host:/ rw
garbage line without a separator
"""


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(TABLE)
    monkeypatch.setenv("MEDIAFORGE_MOUNTINFO", str(path))
    return path


def test_parses_escapes_and_skips_garbage(table: Path) -> None:
    mounts = read_mounts()
    assert [m.mount_point for m in mounts] == [
        "/",
        "/mnt/nas",
        "/mnt/My Share",
        "/mnt/nas/local",
        "/media/usb",
        "/home/me/remote",
    ]
    assert mounts[2].source == "//nas/My Share"


def test_the_longest_mount_point_holds_the_path(table: Path) -> None:
    mounts = read_mounts()
    assert mount_of(Path("/mnt/nas/Photos"), mounts).fs_type == "nfs4"  # type: ignore[union-attr]
    assert mount_of(Path("/mnt/nas/local/x"), mounts).fs_type == "ext4"  # type: ignore[union-attr]
    assert mount_of(Path("/mnt/nasty"), mounts).mount_point == "/"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fs_type", "remote"),
    [
        ("nfs", True),
        ("nfs4", True),
        ("cifs", True),
        ("smb3", True),
        ("fuse.sshfs", True),
        ("fuse.rclone", True),
        ("9p", True),
        ("virtiofs", True),
        ("fuseblk", False),
        ("ext4", False),
        ("btrfs", False),
        ("tmpfs", False),
    ],
)
def test_remote_file_systems(fs_type: str, remote: bool) -> None:
    assert is_remote(fs_type) is remote


def test_watch_mode_auto_polls_network_mounts(table: Path) -> None:
    assert watch_mode_for(Path("/mnt/My Share/Music"), "auto")[0] == "poll"
    assert watch_mode_for(Path("/home/me/remote/x"), "auto")[0] == "poll"
    mode, reason = watch_mode_for(Path("/media/usb/Photos"), "auto")
    assert mode == "inotify" and "fuseblk" in reason
    assert watch_mode_for(Path("/mnt/nas"), "inotify")[0] == "inotify"  # the user decides


def test_an_unreadable_table_means_inotify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAFORGE_MOUNTINFO", str(tmp_path / "absent"))
    assert read_mounts() == []
    assert watch_mode_for(Path("/x"), "auto")[0] == "inotify"


def test_inotify_usage_counts_this_process_watches(tmp_path: Path) -> None:
    from watchfiles._rust_notify import RustNotify

    before = inotify_usage()
    for i in range(5):
        (tmp_path / f"d{i}").mkdir()
    notify = RustNotify([str(tmp_path)], False, False, 50, True, False)
    try:
        after = inotify_usage()
        assert after["watches"] is not None and before["watches"] is not None
        assert after["watches"] >= before["watches"] + 6  # the folder and its five children
        assert after["limit"] is not None and after["limit"] > 0
    finally:
        notify.close()
