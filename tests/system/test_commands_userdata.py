"""Tags and collections through the real mediaforgectl: written by the daemon's single writer,
acknowledged only once committed, never lost."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Daemon, wait_for
from tests.rawclient import RawClient


def _photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"{i}.jpg"
        path.write_bytes(b"\xff\xd8\xff\xe0" + folder.name.encode() + bytes([i]) * 30)
        out.append(path)
    return out


def _tags_of(daemon: Daemon, path: Path) -> set[str]:
    rows = daemon.catalog.query(
        "SELECT tags.name FROM media_items JOIN item_tags ON item_id = media_items.id "
        "JOIN tags ON tags.id = tag_id WHERE path = ?",
        str(path),
    )
    return {r["name"] for r in rows}


def _json(daemon: Daemon, *args: str) -> Any:
    return json.loads(daemon.ctl(*args, "--json").stdout)


def test_tags(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    trip = _photos(library / "Greece", 3)
    other = _photos(library / "Home", 2)
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()

    out = daemon.ctl("tag", "add", "holiday", str(library / "Greece")).stdout
    assert out.strip() == "holiday: tagged 3 (3 in all)"
    added = _json(daemon, "tag", "add", "holiday", str(trip[0]), str(other[0]))
    assert added == {"tag": "holiday", "added": 1, "already": 1, "items": 4}
    item_id = daemon.catalog.item(other[1])["id"]
    daemon.ctl("tag", "add", "best of", "--id", str(item_id))
    assert _tags_of(daemon, trip[0]) == {"holiday"}
    assert _tags_of(daemon, other[1]) == {"best of"}

    assert _json(daemon, "tag", "list") == {
        "tags": [{"tag": "best of", "items": 1}, {"tag": "holiday", "items": 4}]
    }
    one = _json(daemon, "tag", "list", str(other[0]))
    assert one["items"][0]["tags"] == ["holiday"]
    assert "holiday" in daemon.ctl("tag", "list", str(other[0])).stdout

    # A name that matches nothing refuses the whole request: nothing is written.
    bad = daemon.ctl("tag", "add", "new", str(trip[1]), str(library / "nope.jpg"), check=False)
    assert bad.returncode == 1
    assert "not in the catalog" in bad.stderr and "nope.jpg" in bad.stderr
    assert _tags_of(daemon, trip[1]) == {"holiday"}
    outside = daemon.ctl("tag", "add", "x", "/etc/passwd", check=False)
    assert outside.returncode == 1 and "not_in_library" in outside.stderr
    missing_id = daemon.ctl("tag", "add", "x", "--id", "999999", check=False)
    assert missing_id.returncode == 1 and "id 999999" in missing_id.stderr

    removed = _json(daemon, "tag", "remove", "holiday", str(library / "Greece"))
    assert removed == {"tag": "holiday", "removed": 3, "items": 1}
    assert _tags_of(daemon, trip[0]) == set()
    assert _json(daemon, "tag", "remove", "best of", "--all")["removed"] == 1
    assert [t["tag"] for t in _json(daemon, "tag", "list")["tags"]] == ["holiday"]
    gone = daemon.ctl("tag", "remove", "best of", "--all", check=False)
    assert gone.returncode == 1 and "no tag named 'best of'" in gone.stderr
    assert daemon.stop() == 0


def test_tags_survive_a_crash_a_move_and_an_absence(
    daemon_factory: Callable[..., Daemon], library: Path, tmp_path: Path
) -> None:
    photos = _photos(library / "A", 3)
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    daemon.ctl("tag", "add", "keep", *map(str, photos))
    # Acknowledged means committed: a kill right after the reply loses nothing.
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    assert all(_tags_of(daemon, p) == {"keep"} for p in photos)

    daemon.start()
    daemon.wait_idle()
    moved = library / "B.jpg"
    photos[0].rename(moved)
    wait_for(lambda: _tags_of(daemon, moved) == {"keep"}, what="the tag to follow the move")
    stash = tmp_path / "away.jpg"
    photos[1].rename(stash)  # leaves the library: missing, tags kept for the grace period
    wait_for(
        lambda: (row := daemon.catalog.item(photos[1])) is not None and row["status"] == "missing",
        what="the file to go missing",
    )
    assert _tags_of(daemon, photos[1]) == {"keep"}
    stash.rename(photos[1])
    wait_for(
        lambda: (row := daemon.catalog.item(photos[1])) is not None and row["status"] == "present",
        what="the file to come back",
    )
    assert _tags_of(daemon, photos[1]) == {"keep"}
    assert _json(daemon, "tag", "list") == {"tags": [{"tag": "keep", "items": 3}]}
    assert daemon.stop() == 0


def test_collections(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    photos = _photos(library / "Best", 4)
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    created = _json(daemon, "collection", "create", "Portfolio", "-d", "for the website")
    assert created["created"] is True and created["collection"] == "Portfolio"
    again = daemon.ctl("collection", "create", "Portfolio", check=False)
    assert again.returncode == 1 and "[conflict]" in again.stderr

    assert "added 4 (4 in all)" in daemon.ctl("collection", "add", "Portfolio", str(library)).stdout
    assert _json(daemon, "collection", "remove", "Portfolio", str(photos[0]))["items"] == 3
    shown = _json(daemon, "collection", "show", "Portfolio", "--limit", "2", "--offset", "1")
    assert shown["total"] == 3 and shown["description"] == "for the website"
    assert [i["path"] for i in shown["items"]] == [str(photos[2]), str(photos[3])]
    table = daemon.ctl("collection", "show", "Portfolio")
    assert "Portfolio (3 files)" in table.stderr and str(photos[1]) in table.stdout
    listed = _json(daemon, "collection", "list")["collections"]
    assert [(c["collection"], c["items"]) for c in listed] == [("Portfolio", 3)]
    assert "Portfolio  3 files  for the website" in daemon.ctl("collection", "list").stdout

    unknown = daemon.ctl("collection", "add", "Nope", str(photos[0]), check=False)
    assert unknown.returncode == 1 and "[not_found]" in unknown.stderr
    assert _json(daemon, "collection", "delete", "Portfolio") == {
        "collection": "Portfolio",
        "deleted": True,
        "items": 3,
    }
    assert _json(daemon, "collection", "list") == {"collections": []}
    assert len(daemon.catalog.items()) == 4  # the files stay
    assert daemon.stop() == 0


def test_user_data_requests_are_checked(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    _photos(library, 1)
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    client = RawClient(daemon.socket)
    cases = [
        ({"cmd": "tag.add", "args": {"tag": "x", "ids": ["1"]}}, "ids must be a list of integers"),
        ({"cmd": "tag.add", "args": {"tag": "x", "ids": [True]}}, "ids must be a list of integers"),
        ({"cmd": "tag.add", "args": {"tag": "x", "paths": "/a"}}, "paths must be a list"),
        ({"cmd": "tag.add", "args": {"tag": "x"}}, "name the items"),
        ({"cmd": "tag.add", "args": {"tag": " ", "ids": [1]}}, "tag must be 1 to 200"),
        ({"cmd": "tag.add", "args": {"tag": "a\nb", "ids": [1]}}, "printable"),
        ({"cmd": "collection.create", "args": {}}, "name is required"),
        ({"cmd": "collection.show", "args": {"name": "x", "limit": -1}}, "must not be negative"),
    ]
    for request, text in cases:
        reply = client.request(request)
        assert reply["error"]["code"] == "bad_request", (request, reply)
        assert text in reply["error"]["message"], (request, reply)
    client.close()
    assert daemon.catalog.query("SELECT * FROM tags") == []
    assert daemon.stop() == 0
