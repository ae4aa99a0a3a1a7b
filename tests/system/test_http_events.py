"""The events WebSocket and keyset paging, on a daemon with 1,000 files: a real WebSocket
client sees files added, moved and removed during the test; paging by cursor returns each
item once while files are being added."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.conftest import wait_for
from tests.system.httpd import Http, http_daemon

FILES = 1000


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    lib = tmp_path_factory.mktemp("events") / "library"
    for i in range(FILES):
        folder = lib / f"f{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"n{i:04d}.dat").write_bytes(b"x" * (i + 1))
    with http_daemon([lib], events_max_wait=1.0, thumbnail_size=0) as h:
        h.daemon.lib = lib  # type: ignore[attr-defined]
        yield h


def _ws(http: Http, since: int | None = None, **kw: Any) -> ClientConnection:
    query = "" if since is None else f"?since={since}"
    url = http.base.replace("http://", "ws://") + "/api/v1/events" + query
    headers = kw.pop("headers", {"Authorization": f"Bearer {http.read}"})
    return connect(url, additional_headers=headers, open_timeout=30, **kw)


def _head(http: Http) -> int:
    with http.client(http.read) as client:
        lines = client.get("/api/v1/events", params={"limit": 0}).text.splitlines()
    return int(json.loads(lines[-1])["result"]["head"])


def _pages(http: Http, sort: str, adding: threading.Event) -> list[int]:
    ids: list[int] = []
    cursor: str | None = None
    with http.client(http.read) as client:
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 37}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/api/v1/items", params=params).json()
            ids += [item["id"] for item in page["items"]]
            adding.set()  # the writer starts once the first page is read
            cursor = page["next_cursor"]
            if cursor is None:
                return ids


@pytest.mark.parametrize("sort", ["path", "-size", "-added"])
def test_keyset_pages_return_each_item_once_while_files_arrive(http: Http, sort: str) -> None:
    lib: Path = http.daemon.lib  # type: ignore[attr-defined]
    before = {int(r["id"]) for r in http.daemon.catalog.query("SELECT id FROM media_items")}
    assert len(before) >= FILES
    adding = threading.Event()

    def add() -> None:
        adding.wait(30)
        for i in range(60):
            (lib / f"f{i % 10}" / f"new-{sort}-{i:03d}.dat").write_bytes(b"y" * (i + 7))

    writer = threading.Thread(target=add)
    writer.start()
    try:
        ids = _pages(http, sort, adding)
    finally:
        writer.join()
    assert len(ids) == len(set(ids)), "an item came twice"
    assert before <= set(ids), "an item that was there all along was skipped"
    http.daemon.wait_idle(60)


def test_a_cursor_of_another_search_is_refused(http: Http) -> None:
    with http.client(http.read) as client:
        cursor = client.get("/api/v1/items", params={"limit": 5}).json()["next_cursor"]
        other = client.get("/api/v1/items", params={"limit": 5, "sort": "-size", "cursor": cursor})
        assert other.status_code == 400 and "other filters" in other.json()["error"]["message"]
        junk = client.get("/api/v1/items", params={"cursor": "not-a-cursor"})
        assert junk.status_code == 400


def _until(ws: ClientConnection, wanted: Any, seen: list[dict[str, Any]]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=60))
        seen.append(message)
        if "event" in message and wanted(message["event"]):
            return dict(message["event"])
    raise AssertionError(f"no such event in {seen[-20:]}")


def test_the_websocket_sees_added_moved_and_missing(http: Http) -> None:
    lib: Path = http.daemon.lib  # type: ignore[attr-defined]
    seen: list[dict[str, Any]] = []
    with _ws(http, _head(http)) as ws:
        new = lib / "f1" / "ws-new.dat"
        new.write_bytes(b"websocket")
        added = _until(ws, lambda e: e["kind"] == "added" and e["path"] == str(new), seen)
        moved_to = lib / "f2" / "ws-moved.dat"
        new.rename(moved_to)
        moved = _until(
            ws, lambda e: e["path"] == str(moved_to) and e["kind"] in ("moved", "restored"), seen
        )
        assert moved["item"] == added["item"] and moved["old_path"] == str(new)
        moved_to.unlink()
        gone = _until(ws, lambda e: e["kind"] == "missing" and e["path"] == str(moved_to), seen)
        assert gone["item"] == added["item"]
    cursors = [m["event"]["cursor"] for m in seen if "event" in m]
    assert cursors == sorted(cursors)


def test_the_websocket_needs_a_token_and_a_good_cursor(http: Http) -> None:
    for headers, status in (({}, 401), ({"Authorization": "Bearer mf_nope"}, 401)):
        with pytest.raises(InvalidStatus) as refused:
            _ws(http, 0, headers=headers)
        assert refused.value.response.status_code == status
    login = httpx.post(http.base + "/api/v1/login", json={"token": http.read})
    cookie = f"mediaforge_session={login.cookies['mediaforge_session']}"
    with pytest.raises(InvalidStatus) as hijack:
        _ws(http, 0, headers={"Cookie": cookie, "Origin": "http://evil.example"})
    assert hijack.value.response.status_code == 403
    with _ws(http, headers={"Cookie": cookie, "Origin": http.base}) as ws:
        assert ws.protocol.state.name == "OPEN"
    with _ws(http, _head(http) + 1000) as ws:
        error = json.loads(ws.recv(timeout=30))
        assert error["error"]["code"] == "bad_request"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


def _upgrade(base: str, token: str) -> socket.socket:
    """A WebSocket handshake for the whole change log on a raw socket that then reads
    nothing: a client library would keep reading into its own buffers."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # before connect: a small window
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /api/v1/events?since=0 HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: nothing past the handshake is read
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _close_code(sock: socket.socket) -> tuple[int, bytes]:
    """Read frames (unmasked, from the server) until a close frame: its code and reason."""
    reader = sock.makefile("rb")
    while True:
        first, second = reader.read(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(reader.read(2), "big")
        elif length == 127:
            length = int.from_bytes(reader.read(8), "big")
        payload = reader.read(length)
        if first & 0x0F == 0x8:  # close
            return int.from_bytes(payload[:2], "big"), payload[2:]


def test_a_websocket_client_that_does_not_read_is_cut_off(tmp_path: Path) -> None:
    """A client that leaves the change log unread is closed with 4429 after events_max_wait
    (1 s here), rather than the daemon buffering the log for it: the log (12,000 events
    with long names, about 5 MB) is more than the kernel's socket buffers (4 MB at most
    here) and the daemon's bounded queue hold."""
    lib = tmp_path / "library"
    for i in range(12_000):
        folder = lib / f"f{i % 12}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / (f"{i:05d}-" + "n" * 200 + ".dat")).write_bytes(b"%d" % i)
    with http_daemon([lib], events_max_wait=1.0, thumbnail_size=0) as http:
        assert _head(http) >= 12_000
        sock = _upgrade(http.base, http.read)
        try:
            cut = wait_for(
                lambda: [
                    e for e in http.daemon.log_events() if e.get("event") == "subscriber_cut_off"
                ],
                60,
                "the slow client to be cut off",
            )
            assert cut[-1]["transport"] == "websocket"
            code, reason = _close_code(sock)
        finally:
            sock.close()
        assert code == 4429 and b"events_max_wait" in reason
        assert http.daemon.status()["state"] in ("watching", "idle")  # the daemon goes on
