"""Stand-ins for the media servers, on one loopback port: each implements the endpoints the
notify targets call as the servers document them (paths, methods, auth headers, bodies,
status codes, Plex's 404 to POST) and records every request it got."""

from __future__ import annotations

import hashlib
import json
import threading
import time
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
    at: float = field(default_factory=time.time)  # when it came (bench_notify's latency)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Servers:
    plex_locations: list[str] = field(default_factory=list)
    nd_libraries: list[str] = field(default_factory=list)  # Navidrome's (0.59: targets)
    nd_version: str = "0.59.0 (stand-in)"
    down_for: int = 0  # the `down` webhook answers 503 to this many requests first
    on_kill: Callable[[], None] | None = None  # `kill`: called on the first request
    got: list[Got] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    plex_section: str = ""
    jf_items: dict[str, str] = field(default_factory=dict)  # path -> id: what Jellyfin has
    # Until when (monotonic) each server's scan shows as running (a scan request sets it).
    scanning: dict[str, float] = field(default_factory=dict)
    scan_s: float = 1.5

    def of(self, server: str, ok: bool = True) -> list[Got]:
        with self.lock:
            return [g for g in self.got if g.server == server and (not ok or g.status < 300)]

    def answer(self, got: Got) -> tuple[int, Any]:
        name, path, h = got.server, got.path, got.headers
        if name in ("jf",):
            return self._jellyfin(got)
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
                self.scanning["plex"] = time.monotonic() + self.scan_s
                self.plex_section = path.split("/")[3]
                return 200, None
            if path == "/activities":
                activities = []
                if self._still("plex"):
                    section = self.plex_section
                    activities.append({"uuid": "a1", "type": "library.update.section",
                                       "title": "Scanning", "subtitle": "Lib" + section,
                                       "Context": {"librarySectionID": section}})  # fmt: skip
                return 200, {"MediaContainer": {"size": len(activities), "Activity": activities}}
            return 404, None
        if name == "nd":
            return self._navidrome(got)
        if name == "kodi":
            call = got.json()
            result: Any = "OK"
            if call["method"].endswith(".Scan"):
                self.scanning["kodi"] = time.monotonic() + self.scan_s
            if call["method"] == "XBMC.GetInfoBooleans":
                busy = self._still("kodi")
                result = {flag: busy and "Video" in flag for flag in call["params"]["booleans"]}
            return 200, {"jsonrpc": "2.0", "id": call["id"], "result": result}
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

    def _still(self, server: str) -> bool:
        """Whether the server's scan still runs."""
        return time.monotonic() < self.scanning.get(server, 0.0)

    def _jellyfin(self, got: Got) -> tuple[int, Any]:
        if got.headers.get("x-emby-token") != TOKEN:
            return 401, None
        if got.method == "POST" and got.path == "/Library/Media/Updated":
            for update in got.json()["Updates"]:  # the server has them now
                if update["UpdateType"] == "Created":
                    self.jf_items.setdefault(update["Path"], f"id{len(self.jf_items)}")
            return 204, None
        if got.method == "GET" and got.path == "/Items":  # searchTerm: a name, not a path
            term = got.query.get("searchTerm", "")
            items = [{"Id": i, "Name": p.rsplit("/", 1)[-1].rsplit(".", 1)[0], "Path": p}
                     for p, i in self.jf_items.items() if term in p.rsplit("/", 1)[-1]]  # fmt: skip
            return 200, {"Items": items, "TotalRecordCount": len(items)}
        if (
            got.method == "POST"
            and got.path.startswith("/Items/")
            and got.path.endswith("/Refresh")
        ):
            known = got.path.split("/")[2] in self.jf_items.values()
            return (204, None) if known else (404, None)
        return 404, None

    def _navidrome(self, got: Got) -> tuple[int, Any]:
        if got.path == "/auth/login":  # the native API (libraries and their paths)
            body = got.json()
            if body.get("username") != "admin" or body.get("password") != TOKEN:
                return 401, {"error": "Invalid username or password"}
            return 200, {"id": "u1", "name": "admin", "isAdmin": True, "token": "jwt-1"}
        if got.path == "/api/library":
            if got.headers.get("x-nd-authorization") != "Bearer jwt-1":
                return 401, None
            return 200, [{"id": i + 1, "name": f"Music{i + 1}", "path": p}
                         for i, p in enumerate(self.nd_libraries)]  # fmt: skip
        salt, token = got.query.get("s", ""), got.query.get("t", "")
        if hashlib.md5((TOKEN + salt).encode()).hexdigest() != token:
            return 200, {"subsonic-response": {"status": "failed", "error": {"code": 40}}}
        reply: dict[str, Any] = {"status": "ok", "version": "1.16.1", "type": "navidrome"}
        reply |= {"serverVersion": self.nd_version, "openSubsonic": True}
        if got.path == "/rest/startScan":
            self.scanning["nd"] = time.monotonic() + self.scan_s
        if got.path in ("/rest/getScanStatus", "/rest/startScan"):
            reply["scanStatus"] = {"scanning": self._still("nd"), "count": 3}
        return 200, {"subsonic-response": reply}


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
