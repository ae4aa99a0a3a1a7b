"""The HTTP API of a real daemon, with httpx: auth, every route against the socket's answer,
thumbnails and contents with Range, path tricks, tokens from mediaforgectl, bind failure.
One daemon for the module."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from mediaforged.cli.client import Client, CommandFailed
from mediaforged.control.commands import COMMANDS
from mediaforged.http.routes import ROUTES
from tests.conftest import Daemon, wait_for
from tests.system.httpd import Http, http_daemon

SECRET = b"outside every root: never served"


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    base = tmp_path_factory.mktemp("http")
    lib = base / "library"
    (lib / "sub").mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (200 + i, 150), (i * 50, 20, 20)).save(lib / f"p{i}.jpg", quality=95)
    shutil.copy(lib / "p0.jpg", lib / "sub" / "copy.jpg")
    (lib / "sub" / "big.bin").write_bytes(os.urandom(300_000))
    (lib / "swap.jpg").write_bytes((lib / "p1.jpg").read_bytes() + b"swap")
    (base / "secret.txt").write_bytes(SECRET)
    with http_daemon([lib]) as h:
        h.daemon.catalog_root = lib  # type: ignore[attr-defined]
        wait_for(
            lambda: (
                h.daemon.catalog.query(
                    "SELECT count(*) AS n FROM media_metadata WHERE thumb_status = 'ok'"
                )[0]["n"]
                >= 5
            ),
            60,
            "the thumbnails",
        )
        yield h


def _lib(http: Http) -> Path:
    root: Path = http.daemon.catalog_root  # type: ignore[attr-defined]
    return root


def _id(http: Http, path: Path) -> int:
    row = http.daemon.catalog.item(path)
    assert row is not None, path
    return int(row["id"])


def _socket(daemon: Daemon, cmd: str, args: dict[str, Any] | None = None) -> Any:
    """The socket's answer, or its error as {"error": code}."""
    client = Client(daemon.socket, timeout=60)
    try:
        return client.call(cmd, args)
    except CommandFailed as exc:
        return {"error": exc.code}
    finally:
        client.close()


def _url(path: str) -> str:
    return "/api/v1" + path.replace("{id}", "1").replace("{name}", "x")


def test_health_is_open_and_the_address_is_logged(http: Http) -> None:
    reply = httpx.get(http.base + "/healthz")
    assert reply.status_code == 200 and reply.json()["ok"] is True
    listening = [e for e in http.daemon.log_events() if e.get("event") == "http_listening"]
    assert [e["address"] for e in listening] == [http.base]
    assert re.search(r"http http://127\.0\.0\.1:\d+", http.daemon.ctl("status").stdout)
    token_file = http.daemon.state_dir / "admin.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    created = [e for e in http.daemon.log_events() if e.get("event") == "admin_token_created"]
    assert created and created[0]["path"] == str(token_file)


def test_no_token_or_a_wrong_one_is_401_everywhere(http: Http) -> None:
    paths = [(r.method, _url(r.path)) for r in ROUTES]
    paths += [("GET", "/openapi.json"), ("GET", "/api/v1/items/1/thumbnail")]
    paths += [("GET", "/api/v1/items/1/content"), ("POST", "/api/v1/commands/ping")]
    with http.client() as anonymous, http.client("mf_" + "x" * 43) as wrong:
        for method, path in paths:
            for client in (anonymous, wrong):
                reply = client.request(method, path, json={} if method != "GET" else None)
                assert reply.status_code == 401, (method, path, reply.text)
                assert reply.json()["error"]["code"] == "unauthorized"
                assert reply.headers["www-authenticate"].startswith("Bearer")


def test_a_read_token_reads_and_changes_nothing(http: Http) -> None:
    changing = [r for r in ROUTES if COMMANDS[r.command].changes]
    assert {r.command for r in changing} >= {"rescan", "pause", "tag.add", "token.create"}
    with http.client(http.read) as reader:
        for route in changing:
            reply = reader.request(route.method, _url(route.path), json={})
            assert reply.status_code == 403, (route, reply.text)
            assert reply.json()["error"]["code"] == "forbidden"
        for name in ("rescan", "pause", "token.revoke"):
            assert reader.post(f"/api/v1/commands/{name}", json={}).status_code == 403
        assert reader.get("/api/v1/status").status_code == 200
        assert reader.post("/api/v1/commands/ping", json={}).status_code == 200
    assert http.daemon.status()["state"] != "paused"


def test_a_revoked_token_is_refused_at_once(http: Http) -> None:
    token = http.daemon.ctl("token", "create", "brief", "--scope", "admin").stdout.strip()
    with http.client(token) as client:
        assert client.get("/api/v1/ping").status_code == 200
        http.daemon.ctl("token", "revoke", "brief")
        reply = client.get("/api/v1/ping")
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "unauthorized"


def test_the_session_cookie_needs_a_same_origin_header_to_change_things(http: Http) -> None:
    with httpx.Client(base_url=http.base, timeout=60) as browser:
        login = browser.post("/api/v1/login", json={"token": http.admin})
        assert login.status_code == 200 and login.json() == {"name": "admin", "scope": "admin"}
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert browser.get("/api/v1/status").status_code == 200  # reading needs no header
        made = {"name": "by-cookie"}
        refused = browser.post("/api/v1/collections", json=made)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        evil = browser.post("/api/v1/collections", json=made, headers={"Origin": "http://evil"})
        assert evil.status_code == 403
        host = http.base.removeprefix("http://")
        same = browser.post("/api/v1/collections", json=made, headers={"Origin": http.base})
        assert same.status_code == 200, same.text
        gone = browser.delete(
            "/api/v1/collections/by-cookie", headers={"Referer": f"http://{host}/page"}
        )
        assert gone.status_code == 200 and gone.json()["deleted"] is True
        assert browser.post("/api/v1/logout", headers={"X-Requested-With": "x"}).status_code == 200
    assert _socket(http.daemon, "collection.show", {"name": "by-cookie"}) == {"error": "not_found"}


def test_failed_logins_are_limited_per_address(http: Http) -> None:
    def login(address: str, token: str) -> httpx.Response:
        return httpx.post(
            http.base + "/api/v1/login",
            json={"token": token},
            headers={"X-Forwarded-For": address},  # the test's loopback is a trusted proxy
        )

    codes = [login("10.9.8.7", f"mf_wrong{i}").status_code for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    limited = login("10.9.8.7", http.admin)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    assert login("10.9.8.6", "mf_wrong").status_code == 401  # another address: not limited
    assert login("10.9.8.6", http.admin).status_code == 200


def _events(daemon: Daemon, since: int) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    client = Client(daemon.socket, timeout=60)
    try:
        client.call("events", {"since": since}, on_event=lambda line: seen.append(line["event"]))
    finally:
        client.close()
    return seen


def test_every_read_route_answers_what_the_socket_does(http: Http) -> None:
    lib = _lib(http)
    item = _id(http, lib / "p1.jpg")
    http.daemon.call("tag.add", {"tag": "red", "ids": [item]})
    http.daemon.call("collection.create", {"name": "best"})
    http.daemon.call("collection.add", {"name": "best", "ids": [item]})
    path = str(lib / "p1.jpg")
    cases: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
        ("/ping", {}, "ping", {}),
        ("/items", {"sort": "-size", "limit": 3}, "search", {"sort": "-size", "limit": 3}),
        ("/items", {"tags": ["red"]}, "search", {"tags": ["red"]}),
        ("/items", {"sort": "bogus"}, "search", {"sort": "bogus"}),
        (f"/items/{item}", {}, "info", {"id": item}),
        ("/items/999999", {}, "info", {"id": 999999}),
        ("/items/by-path", {"path": path}, "info", {"path": path}),
        ("/items/by-path", {"path": "/etc/passwd"}, "info", {"path": "/etc/passwd"}),
        ("/why", {"path": path}, "why", {"path": path}),
        ("/duplicates", {"min_size": 1}, "duplicates", {"min_size": 1}),
        ("/failed", {}, "failed", {}),
        ("/tags", {}, "tag.list", {}),
        ("/tags", {"id": item}, "tag.list", {"id": item}),
        ("/collections", {}, "collection.list", {}),
        ("/collections/best", {}, "collection.show", {"name": "best"}),
        ("/collections/nope", {}, "collection.show", {"name": "nope"}),
        ("/tokens", {}, "token.list", {}),
    ]
    with http.client(http.admin) as client:
        for path_, params, cmd, args in cases:
            reply = client.get("/api/v1" + path_, params=params)
            body = reply.json()
            answer = _socket(http.daemon, cmd, args)
            if "error" in answer:
                assert reply.status_code in (400, 404), (path_, reply.text)
                assert body["error"]["code"] == answer["error"], path_
            else:
                assert reply.status_code == 200, (path_, reply.text)
                if cmd == "token.list":  # this very request is the admin token's last use
                    body, answer = (
                        [t["name"] for t in x["tokens"]]
                        for x in (body, answer)  # type: ignore[assignment]
                    )
                assert body == answer, path_
        status = client.get("/api/v1/status").json()
        assert set(status) == set(http.daemon.status()) and status["http"] == http.base
        lines = [json.loads(line) for line in client.get("/api/v1/events?since=0").iter_lines()]
        assert [x["event"] for x in lines[:-1]] == _events(http.daemon, 0)
        assert lines[-1]["ok"] is True and lines[-1]["result"]["sent"] == len(lines) - 1
        assert client.post("/api/v1/commands/ping", json={}).json() == _socket(http.daemon, "ping")
        unknown = client.post("/api/v1/commands/nope", json={})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_command"


def test_changing_routes_run_the_socket_commands(http: Http) -> None:
    item = _id(http, _lib(http) / "p2.jpg")
    with http.client(http.admin) as client:
        added = client.post("/api/v1/tags/add", json={"tag": "h", "ids": [item]}).json()
        assert added == {"tag": "h", "added": 1, "already": 0, "items": 1}
        again = _socket(http.daemon, "tag.add", {"tag": "h", "ids": [item]})
        assert again == {"tag": "h", "added": 0, "already": 1, "items": 1}
        removed = client.post("/api/v1/tags/remove", json={"tag": "h", "all": True}).json()
        assert removed == {"tag": "h", "removed": 1, "items": 0}
        paused = client.post("/api/v1/pause", json={}).json()
        assert paused == {"state": "paused"} and http.daemon.status()["state"] == "paused"
        resumed = client.post("/api/v1/resume").json()
        assert resumed == _socket(http.daemon, "resume")
        bad = client.post("/api/v1/rescan", json={"path": "/etc"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "not_in_library"
        with client.stream("POST", "/api/v1/rescan", json={"path": str(_lib(http))}) as reply:
            assert reply.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(line) for line in reply.iter_lines()]
        assert "progress" in lines[0] and lines[-1]["ok"] is True
        assert lines[-1]["result"]["jobs"][0]["complete"] is True
        extra = client.post("/api/v1/pause", json={"bogus": 1})
        assert extra.status_code == 400 and extra.json()["error"]["code"] == "bad_request"


def test_thumbnails_have_a_strong_etag(http: Http) -> None:
    row = http.daemon.catalog.item(_lib(http) / "p3.jpg")
    assert row is not None
    digest = row["file_hash"]
    on_disk = http.daemon.state_dir / "thumbnails" / digest[:2] / digest[2:4] / f"{digest}.webp"
    with http.client(http.read) as client:
        reply = client.get(f"/api/v1/items/{row['id']}/thumbnail")
        assert reply.status_code == 200 and reply.headers["content-type"] == "image/webp"
        assert reply.content == on_disk.read_bytes()
        assert reply.headers["etag"] == f'"{digest}"'
        assert "max-age=86400" in reply.headers["cache-control"]
        cached = client.get(
            f"/api/v1/items/{row['id']}/thumbnail", headers={"If-None-Match": f'"{digest}"'}
        )
        assert cached.status_code == 304 and cached.content == b""
        forever = client.get(f"/api/v1/items/{row['id']}/thumbnail", params={"v": digest})
        assert "immutable" in forever.headers["cache-control"]
        assert forever.content == on_disk.read_bytes() and forever.headers["etag"] == f'"{digest}"'
        # A hash no thumbnail is named by (stale, or not a picture of ours): the item's own.
        stale = client.get(f"/api/v1/items/{row['id']}/thumbnail", params={"v": "0" * 64})
        assert stale.status_code == 200 and stale.content == on_disk.read_bytes()
        assert "max-age=86400" in stale.headers["cache-control"]
        bad = client.get(f"/api/v1/items/{row['id']}/thumbnail", params={"v": "../" * 20})
        assert bad.status_code == 200 and bad.headers["etag"] == f'"{digest}"'
        big = _id(http, _lib(http) / "sub" / "big.bin")  # no picture in it
        assert client.get(f"/api/v1/items/{big}/thumbnail").status_code == 404


def test_thumbnails_asked_at_once_each_get_their_own(http: Http) -> None:
    """A grid asks for many thumbnails at once; the lookups share catalog queries, and each
    request must still get its own picture, its own 404 or its own ETag."""
    pictures = {_id(http, _lib(http) / f"p{i}.jpg"): _lib(http) / f"p{i}.jpg" for i in range(4)}
    expected: dict[int, bytes] = {}
    for item_id, path in pictures.items():
        digest = http.daemon.catalog.item(path)["file_hash"]  # type: ignore[index]
        thumb = http.daemon.state_dir / "thumbnails" / digest[:2] / digest[2:4]
        expected[item_id] = (thumb / f"{digest}.webp").read_bytes()
    no_picture = _id(http, _lib(http) / "sub" / "big.bin")
    asked = [*pictures, no_picture, 1 << 40] * 10

    async def ask_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=8)
        headers = {"Authorization": f"Bearer {http.read}"}
        async with httpx.AsyncClient(
            base_url=http.base, headers=headers, limits=limits, timeout=60
        ) as client:
            return await asyncio.gather(
                *(client.get(f"/api/v1/items/{i}/thumbnail") for i in asked)
            )

    replies = asyncio.run(ask_all())
    for item_id, reply in zip(asked, replies, strict=True):
        if item_id in expected:
            assert reply.status_code == 200, (item_id, reply.text)
            assert reply.content == expected[item_id]
        else:
            assert reply.status_code == 404, (item_id, reply.text)
            want = "has no thumbnail" if item_id == no_picture else "is not in the catalog"
            assert want in reply.json()["error"]["message"], reply.json()


def test_content_with_ranges(http: Http) -> None:
    path = _lib(http) / "sub" / "big.bin"
    data = path.read_bytes()
    size = len(data)
    url = f"/api/v1/items/{_id(http, path)}/content"
    with http.client(http.read) as client:
        whole = client.get(url)
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["accept-ranges"] == "bytes"
        for header, first, last in [
            ("bytes=0-9", 0, 9),
            ("bytes=1000-199999", 1000, 199999),
            ("bytes=-50", size - 50, size - 1),
            (f"bytes={size - 5}-", size - 5, size - 1),
            (f"bytes=10-{size + 999}", 10, size - 1),
        ]:
            part = client.get(url, headers={"Range": header})
            assert part.status_code == 206, header
            assert part.content == data[first : last + 1], header
            assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
            refused = client.get(url, headers={"Range": header})
            assert refused.status_code == 416, header
            assert refused.headers["content-range"] == f"bytes */{size}"
        # A file changed since it was catalogued is served as it is now.
        with open(path, "ab") as f:
            f.write(b"grown")
        assert client.get(url).content == data + b"grown"
        assert int(client.get(url).headers["content-length"]) == size + 5


def _raw_get(base: str, target: bytes, token: str) -> tuple[int, bytes]:
    """A request line sent as it is (an HTTP client would normalise ``..`` away)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.split(b"\r\n", 1)[0]
    return int(head.split()[1]), data


def test_path_tricks_get_4xx_and_read_nothing_outside(http: Http) -> None:
    lib = _lib(http)
    secret = lib.parent / "secret.txt"
    tricks = [
        f"{lib}/../secret.txt",
        "secret.txt",
        f"{lib}/sub/../../secret.txt",
        str(secret),
        f"{lib}/p1.jpg\x00.txt",
    ]
    with http.client(http.admin) as client:
        for trick in tricks:
            reply = client.get("/api/v1/items/by-path", params={"path": trick})
            assert 400 <= reply.status_code < 500, (trick, reply.text)
            assert SECRET not in reply.content
            assert SECRET not in client.get("/api/v1/why", params={"path": trick}).content
    targets = [
        b"/api/v1/items/../../../" + str(secret).encode().lstrip(b"/"),
        b"/api/v1/items/..%2F..%2Fsecret.txt/content",
        b"/api/v1/items/%2e%2e%2fsecret.txt/content",
        b"/api/v1/items/1%00/content",
        b"/api/v1/items/" + str(secret).encode() + b"/content",
        b"/api/v1/items/by-path?path=" + str(secret).replace("/", "%2F").encode(),
    ]
    for target in targets:
        status, data = _raw_get(http.base, target, http.admin)
        assert 400 <= status < 500, (target, data[:300])
        assert SECRET not in data
    # A catalogued file swapped for a link to the secret: its content is refused.
    swap = lib / "swap.jpg"
    url = f"/api/v1/items/{_id(http, swap)}/content"
    swap.unlink()
    swap.symlink_to(secret)
    with http.client(http.admin) as client:
        reply = client.get(url)
        assert reply.status_code == 404 and SECRET not in reply.content


def test_tokens_from_mediaforgectl(http: Http) -> None:
    listed = json.loads(http.daemon.ctl("token", "list", "--json").stdout)["tokens"]
    names = {t["name"]: t for t in listed}
    assert names["admin"]["scope"] == "admin" and names["reader"]["scope"] == "read"
    assert all(set(t) == {"name", "scope", "created_at", "last_used_at"} for t in listed)
    table = http.daemon.ctl("token", "list").stdout
    assert "reader" in table and "last used" in table and http.read not in table
    again = http.daemon.ctl("token", "create", "reader", "--scope", "read", check=False)
    assert again.returncode == 1 and "exists already" in again.stderr
    assert http.daemon.ctl("token", "revoke", "nope", check=False).returncode == 1
    # Only the hash is kept.
    stored = http.daemon.catalog.query("SELECT token_hash FROM api_tokens")
    assert stored and all(http.read not in r["token_hash"] for r in stored)


def test_a_port_in_use_is_one_clear_error(http: Http, daemon_factory: Any, tmp_path: Path) -> None:
    lib = tmp_path / "other"
    lib.mkdir()
    second = daemon_factory([lib], http_listen=http.base.removeprefix("http://"))
    second.start(wait_ready=False)
    assert second.wait_exit(60) == 6
    log = second.log_path.read_text()
    failed = [e for e in second.log_events() if e.get("event") == "http_bind_failed"]
    assert len(failed) == 1 and "in use" in failed[0]["error"]
    assert "Traceback" not in log
    assert not second.socket.exists()  # the control socket it had opened is gone again


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_need_an_admin_token_and_move_with_the_catalog(http: Http) -> None:
    """GET /metrics: the Prometheus text behind an admin token (a read token: 403), whose
    counts follow the catalog, and whose HTTP requests are counted by transport."""
    with http.client() as anyone, http.client(http.read) as reader:
        assert anyone.get("/metrics").status_code == 401
        assert reader.get("/metrics").status_code == 403
    with http.client(http.admin) as admin:
        before = admin.get("/metrics")
        assert before.status_code == 200
        assert before.headers["content-type"].startswith("text/plain")
        families = _families(before.text)
        indexed = families["mediaforge_files_indexed"].samples[0].value
        assert admin.get("/api/v1/status").status_code == 200  # a command over HTTP, counted
        new = _lib(http) / "metrics-new.bin"
        new.write_bytes(os.urandom(1000))
        wait_for(lambda: http.daemon.catalog.item(new), 60, "the new file")
        after = wait_for(
            lambda: (
                f
                if (f := _families(admin.get("/metrics").text))["mediaforge_files_indexed"]
                .samples[0]
                .value
                > indexed
                else None
            ),
            60,
            "the indexed count to move",
        )
    requests = after["mediaforge_control_request_duration_seconds"].samples
    http_counts = [
        s.value
        for s in requests
        if s.name.endswith("_count") and s.labels.get("transport") == "http"
    ]
    assert sum(http_counts) > 0, "no HTTP request was counted"
