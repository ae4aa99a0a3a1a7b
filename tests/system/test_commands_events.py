"""events: every kind of change with a cursor, resuming, several live subscribers, and a
slow subscriber cut off while the others and the daemon carry on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Daemon, wait_for
from tests.rawclient import RawClient
from tests.system.test_commands_queries import NO_DAC


def _events(daemon: Daemon, *args: str) -> list[dict[str, Any]]:
    out = daemon.ctl("events", "--json", *args).stdout
    return [json.loads(line) for line in out.splitlines()]


def _kinds(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["kind"], Path(e["path"]).name) for e in events]


def test_every_change_is_logged_with_a_cursor(
    daemon_factory: Callable[..., Daemon], library: Path, tmp_path: Path
) -> None:
    (library / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 first")
    (library / "keep.jpg").write_bytes(b"\xff\xd8\xff\xe0 keep")
    locked = library / "locked.jpg"
    locked.write_bytes(b"\xff\xd8\xff\xe0 locked")
    locked.chmod(0)
    daemon = daemon_factory([library])
    daemon.wrapper = NO_DAC  # so that the mode-000 file fails, as for an unprivileged user
    daemon.start()
    daemon.wait_idle()
    start = _events(daemon, "--since", "0")
    assert sorted(_kinds(start)) == [
        ("added", "a.jpg"),
        ("added", "keep.jpg"),
        ("failed", "locked.jpg"),
    ]
    item = daemon.catalog.item(library / "a.jpg")["id"]
    assert {e["item"] for e in start if e["path"].endswith("a.jpg")} == {item}
    cursor = max(e["cursor"] for e in start)
    assert [e["cursor"] for e in start] == sorted(e["cursor"] for e in start)

    def after(c: int) -> list[dict[str, Any]]:
        return _events(daemon, "--since", str(c))

    (library / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 second version")
    changed = wait_for(lambda: after(cursor), what="a changed event")
    assert _kinds(changed) == [("changed", "a.jpg")] and changed[0]["item"] == item
    cursor = changed[-1]["cursor"]

    (library / "a.jpg").rename(library / "b.jpg")
    moved = wait_for(
        lambda: (e := after(cursor)) and e[-1]["kind"] == "moved" and e, what="a moved event"
    )
    # The watch reports a rename as a delete and a create: the old path may be logged
    # missing for the moment between them.
    assert _kinds(moved) in ([("moved", "b.jpg")], [("missing", "a.jpg"), ("moved", "b.jpg")])
    assert moved[-1]["old_path"] == str(library / "a.jpg") and moved[-1]["item"] == item
    cursor = moved[-1]["cursor"]

    stash = tmp_path / "b.jpg"
    (library / "b.jpg").rename(stash)  # out of the library: missing
    missing = wait_for(lambda: after(cursor), what="a missing event")
    assert _kinds(missing) == [("missing", "b.jpg")]
    cursor = missing[-1]["cursor"]

    shutil.copy(stash, library / "c.jpg")  # the same bytes come back (a new inode): restored
    restored = wait_for(lambda: after(cursor), what="a restored event")
    assert _kinds(restored) == [("restored", "c.jpg")] and restored[0]["item"] == item
    assert restored[0]["old_path"] == str(library / "b.jpg")
    cursor = restored[-1]["cursor"]

    locked.chmod(0o644)
    # Exit 1: the test's fake JPEGs still fail at the metadata stage; indexing is what is fixed.
    daemon.ctl("retry", "--stage", "index", check=False)
    assert "locked.jpg" not in daemon.ctl("failed", "--stage", "index").stdout
    fixed = after(cursor)
    assert _kinds(fixed) == [("changed", "locked.jpg")]

    # Resuming, a limit, the last events by default, and the human form.
    everything = _events(daemon, "--since", "0")
    assert len(everything) in (8, 9)
    assert (
        _events(daemon, "--since", str(everything[2]["cursor"]), "--limit", "2") == everything[3:5]
    )
    assert _events(daemon, "--limit", "3") == everything[-3:]
    human = daemon.ctl("events", "--since", str(everything[-4]["cursor"]))
    assert "moved" not in human.stdout and "restored" in human.stdout
    assert f"resume with --since {everything[-1]['cursor']}" in human.stderr
    ahead = daemon.ctl("events", "--since", "999999", check=False)
    assert ahead.returncode == 2 and "ahead of the change log" in ahead.stderr  # bad_request
    assert daemon.stop() == 0


def test_purged_items_are_logged(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    gone = library / "gone.jpg"
    gone.write_bytes(b"\xff\xd8\xff\xe0 gone")
    daemon = daemon_factory([library], missing_grace_days=0.00002)  # about 2 s
    daemon.start()
    daemon.wait_idle()
    gone.unlink()
    events = wait_for(
        lambda: (e := _events(daemon, "--since", "0")) and e[-1]["kind"] == "purged" and e,
        what="the purge",
    )
    assert _kinds(events) == [
        ("added", "gone.jpg"),
        ("missing", "gone.jpg"),
        ("purged", "gone.jpg"),
    ]
    assert len({e["item"] for e in events}) == 1
    assert daemon.catalog.item(gone) is None  # the item is gone; its history is not
    assert daemon.stop() == 0


def _follow(daemon: Daemon, since: int | None = None) -> RawClient:
    client = RawClient(daemon.socket)
    args: dict[str, Any] = {"follow": True}
    if since is not None:
        args["since"] = since
    client.write(json.dumps({"id": "f", "cmd": "events", "args": args}).encode() + b"\n")
    return client


def test_several_live_subscribers(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    # All four follow from the same cursor: a subscriber that connects but sends its request
    # after the changes below (a loaded machine) must still get them.
    head = max((e["cursor"] for e in _events(daemon, "--since", "0")), default=0)
    raw = [_follow(daemon, since=head) for _ in range(3)]
    ctl = subprocess.Popen(
        [sys.executable, "-m", "mediaforged.cli.main", "--socket", str(daemon.socket), "events",
         "--follow", "--json", "--since", str(head)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert ctl.stdout is not None
    for i in range(3):
        (library / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes([i]) * 20)
    seen = []
    for client in raw:
        lines = [client.read() for _ in range(3)]
        assert all(line["id"] == "f" and "event" in line for line in lines)
        seen.append([(m["event"]["cursor"], m["event"]["kind"]) for m in lines])
    assert seen[0] == seen[1] == seen[2]
    assert [kind for _, kind in seen[0]] == ["added"] * 3
    from_ctl = [json.loads(ctl.stdout.readline()) for _ in range(3)]
    assert [(e["cursor"], e["kind"]) for e in from_ctl] == seen[0]
    ctl.terminate()
    ctl.wait(30)
    ctl.stdout.close()
    for client in raw:
        client.close()
    assert daemon.status()["state"] == "watching"
    assert daemon.stop() == 0


def test_a_slow_subscriber_is_cut_off(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    for i in range(3000):
        (library / f"{i:04}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + str(i).encode())
    daemon = daemon_factory([library], events_max_wait=1.0, watch=False).start()
    daemon.wait_idle()
    slow = _follow(daemon, since=0)
    wait_for(
        lambda: any(e.get("event") == "subscriber_cut_off" for e in daemon.log_events()),
        what="the slow subscriber to be cut off",
    )
    # Meanwhile the daemon serves others as usual.
    assert len(_events(daemon, "--since", "0")) == 3000
    assert daemon.status()["state"] == "idle"
    # The slow reader finds the events it was sent, then the reason it was cut off.
    lines = []
    while line := slow.readline():
        lines.append(json.loads(line))
    slow.close()
    assert lines and lines[-1]["ok"] is False and lines[-1]["error"]["code"] == "too_slow"
    received = [m["event"]["cursor"] for m in lines[:-1]]
    assert 0 < len(received) < 3000 and received == sorted(received)
    assert "--since" in lines[-1]["error"]["message"]
    assert daemon.stop() == 0
