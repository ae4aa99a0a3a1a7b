"""Stand-ins for the media servers, on one loopback port: each implements the endpoints the
notify targets call as the servers document them (paths, methods, auth headers, bodies,
status codes, Plex's 404 to POST) and records every request it got."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "tok-123"


@dataclass
class Got:
    server: str  # the first path component: jf, plex, nd, kodi, immich, abs, hook, down, kill
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Servers:
    plex_locations: list[str] = field(default_factory=list)
    down_for: int = 0  # the `down` webhook answers 503 to this many requests first
    on_kill: Callable[[], None] | None = None  # `kill`: called on the first request
    got: list[Got] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, server: str, ok: bool = True) -> list[Got]:
        with self.lock:
            return [g for g in self.got if g.server == server and (not ok or g.status < 300)]

    def answer(self, got: Got) -> tuple[int, Any]:
        name, path, h = got.server, got.path, got.headers
        if name in ("jf",):
            if h.get("x-emby-token") != TOKEN:
                return 401, None
            if got.method == "POST" and path == "/Library/Media/Updated":
                return 204, None
            return 404, None
        if name == "plex":
            if got.method != "GET":
                return 404, None  # Plex answers 404 to POST since 1.32.7
            if h.get("x-plex-token") != TOKEN:
                return 401, None
            if path == "/library/sections":
                dirs = [
                    {"key": str(i + 1), "title": f"Lib{i + 1}", "Location": [{"path": p}]}
                    for i, p in enumerate(self.plex_locations)
                ]
                return 200, {"MediaContainer": {"Directory": dirs}}
            if path.startswith("/library/sections/") and path.endswith("/refresh"):
                return 200, None
            if path == "/activities":
                return 200, {"MediaContainer": {"Activity": []}}
            return 404, None
        if name == "nd":
            salt, token = got.query.get("s", ""), got.query.get("t", "")
            if hashlib.md5((TOKEN + salt).encode()).hexdigest() != token:
                return 200, {"subsonic-response": {"status": "failed", "error": {"code": 40}}}
            reply: dict[str, Any] = {"status": "ok", "version": "1.16.1"}
            if path == "/rest/getScanStatus":
                reply["scanStatus"] = {"scanning": False, "count": 3}
            return 200, {"subsonic-response": reply}
        if name == "kodi":
            call = got.json()
            return 200, {"jsonrpc": "2.0", "id": call["id"], "result": "OK"}
        if name == "immich":
            if h.get("x-api-key") != TOKEN:
                return 401, None
            if path == "/api/libraries":
                return 200, [{"id": "im1", "name": "Photos", "importPaths": ["/photos"]}]
            return (204, None) if path == "/api/libraries/im1/scan" else (404, None)
        if name == "abs":
            if h.get("authorization") != f"Bearer {TOKEN}":
                return 401, None
            if path == "/api/libraries":
                libraries = [{"id": "ab1", "name": "Books", "folders": [{"fullPath": "/books"}]}]
                return 200, {"libraries": libraries}
            return (200, None) if path == "/api/libraries/ab1/scan" else (404, None)
        if name == "down":
            with self.lock:
                if self.down_for > 0:
                    self.down_for -= 1
                    return 503, None
            return 200, None
        if name == "kill" and self.on_kill is not None:
            kill, self.on_kill = self.on_kill, None
            kill()  # the daemon dies before this request is answered
        return 200, None


def serve(servers: Servers) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def handle_one(self) -> None:
            parts = urlsplit(self.path)
            server, _, rest = parts.path.lstrip("/").partition("/")
            length = int(self.headers.get("Content-Length") or 0)
            got = Got(
                server,
                self.command,
                "/" + rest,
                {k: v[0] for k, v in parse_qs(parts.query).items()},
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            status, body = servers.answer(got)
            got.status = status
            with servers.lock:
                servers.got.append(got)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = handle_one

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
