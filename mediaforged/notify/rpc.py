"""The servers asked by RPC: Navidrome (Subsonic, with its native API for the libraries'
paths) and Kodi (JSON-RPC over HTTP); what each sends is described in ``servers.py``."""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
import secrets
import time
from typing import Any

import httpx
import structlog

from mediaforged.notify.model import Batch, Permanent, Transient
from mediaforged.notify.senders import (
    Libraries,
    Report,
    Request,
    Sender,
    library_of,
    watch_scan,
)
from mediaforged.settings.targets import TargetSpec

__all__ = ["Kodi", "Navidrome"]

log = structlog.get_logger("mediaforged.notify")

_LIBRARIES_TTL_S = 60.0  # Navidrome's libraries are fetched again after this
_NAVIDROME_TARGETS = (0, 59)  # the first Navidrome whose startScan takes target=


def _version(text: str) -> tuple[int, ...]:
    """``0.59.1 (a1b2c3)`` as (0, 59, 1); () when it is not a version."""
    found = re.match(r"v?(\d+(?:\.\d+)*)", text.strip())
    return tuple(int(p) for p in found.group(1).split(".")) if found else ()


def _relative(folder: str, locations: list[str]) -> str:
    """``folder`` inside the longest location that holds it ("." for the location)."""
    base = max(
        (loc.rstrip("/") for loc in locations
         if folder == loc.rstrip("/") or folder.startswith(loc.rstrip("/") + "/")),
        key=len,
    )  # fmt: skip
    return posixpath.relpath(folder, base or "/")


class Navidrome(Sender):
    def __init__(self, spec: TargetSpec, client: httpx.AsyncClient) -> None:
        super().__init__(spec, client)
        self._libraries: Libraries | None = None  # None: a server without targeted scans
        self._fetched = 0.0

    def params(self) -> dict[str, str]:
        salt = secrets.token_hex(6)
        token = hashlib.md5((self.credential() + salt).encode()).hexdigest()
        return {
            "u": self.spec.user,
            "t": token,
            "s": salt,
            "v": "1.16.1",
            "c": "mediaforged",
            "f": "json",
        }

    def check(self, method: str, response: httpx.Response) -> dict[str, Any]:
        try:
            reply = response.json()["subsonic-response"]
        except (ValueError, KeyError, TypeError):
            raise Transient(f"{method}: not a Subsonic answer") from None
        if reply.get("status") != "ok":
            error = reply.get("error", {})
            text = f"{method}: Subsonic error {error.get('code')}: {error.get('message', '')}"
            raise (Permanent if error.get("code") in (40, 41, 50) else Transient)(text)
        return dict(reply)

    async def call(self, method: str) -> dict[str, Any]:
        url = f"{self.spec.url}/rest/{method}"
        return self.check(method, await self.http(Request("GET", url, params=self.params())))

    async def libraries(self) -> Libraries | None:
        """The libraries and their paths where ``startScan`` takes targets (None: it
        does not, or the native API refused): fetched again after ``_LIBRARIES_TTL_S``."""
        if not self._fetched or time.monotonic() - self._fetched > _LIBRARIES_TTL_S:
            self._libraries, self._fetched = await self._fetch(), time.monotonic()
        return self._libraries

    async def _fetch(self) -> Libraries | None:
        ping = await self.call("ping")
        version = _version(str(ping.get("serverVersion", "")))
        if ping.get("type") != "navidrome" or version < _NAVIDROME_TARGETS:
            return None
        try:
            body = {"username": self.spec.user, "password": self.credential()}
            login = await self.http(Request("POST", f"{self.spec.url}/auth/login", body=body))
            jwt = login.json()["token"]
            headers = {"X-ND-Authorization": f"Bearer {jwt}", "Accept": "application/json"}
            url = f"{self.spec.url}/api/library"
            found = (await self.http(Request("GET", url, headers=headers))).json()
            return [(str(d["id"]), str(d.get("name", "")), [str(d["path"])]) for d in found]
        except (Permanent, ValueError, KeyError, TypeError) as exc:  # not an admin, say
            log.warning("target_full_scans", target=self.spec.name, why=str(exc))
            return None

    async def plan(self, batch: Batch) -> tuple[str, list[Request]]:
        params = self.params()
        name = ""
        libraries = await self.libraries()
        if libraries:
            key, name = library_of(batch.server_folder, libraries)
            locations = next(locs for k, _n, locs in libraries if k == key)
            params["target"] = f"{key}:{_relative(batch.server_folder, locations)}"
        return name, [Request("GET", f"{self.spec.url}/rest/startScan", params=params)]

    async def send(self, batch: Batch) -> int:
        _library, requests = await self.plan(batch)
        self.check("startScan", await self.http(requests[0]))
        return 1

    async def confirm(self, report: Report) -> None:
        async def look() -> tuple[bool, str]:
            status = (await self.call("getScanStatus")).get("scanStatus", {})
            count = status.get("count", 0)
            if status.get("scanning"):
                return True, f"scanning ({count} files)"
            return False, f"scan finished ({count} files)"

        await watch_scan(look, report)


class Kodi(Sender):
    def __init__(self, spec: TargetSpec, client: httpx.AsyncClient) -> None:
        super().__init__(spec, client)
        self._asked: Request | None = None  # the scan sent last: its URL and auth

    async def plan(self, batch: Batch) -> tuple[str, list[Request]]:
        audio = any(c.media_type == "audio" for c in batch.changes)
        library = "AudioLibrary" if audio else "VideoLibrary"
        directory = batch.server_folder.rstrip("/") + "/"  # Kodi's sources end with a slash
        methods = [f"{library}.Scan"]
        if any(c.gone for c in batch.changes):
            methods.append(f"{library}.Clean")
        headers: dict[str, str] = {}
        if self.spec.user or self.spec.token or self.spec.token_file:
            pair = f"{self.spec.user or 'kodi'}:{self.credential()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return library, [
            Request(
                "POST",
                f"{self.spec.url}/jsonrpc",
                headers=headers,
                body={
                    "jsonrpc": "2.0",
                    "id": i + 1,
                    "method": m,
                    "params": {"directory": directory},
                },
                secret_headers=frozenset({"Authorization"}),
            )
            for i, m in enumerate(methods)
        ]

    async def send(self, batch: Batch) -> int:
        _library, requests = await self.plan(batch)
        for request in requests:
            await self.rpc(request)
        self._asked = requests[0]
        return len(requests)

    async def rpc(self, request: Request) -> Any:
        reply = (await self.http(request)).json()
        if "error" in reply:
            raise Permanent(
                f"{request.body['method']}: {reply['error'].get('message', reply['error'])}"
            )
        return reply.get("result")

    async def confirm(self, report: Report) -> None:
        """Until Kodi says it scans neither library (XBMC.GetInfoBooleans)."""
        asked = self._asked
        if asked is None:
            return
        flags = ["Library.IsScanningVideo", "Library.IsScanningMusic"]
        body = {"jsonrpc": "2.0", "id": 1, "method": "XBMC.GetInfoBooleans",
                "params": {"booleans": flags}}  # fmt: skip
        ask = Request("POST", asked.url, headers=asked.headers, body=body)

        async def look() -> tuple[bool, str]:
            result = await self.rpc(ask) or {}
            scanning = [
                f.removeprefix("Library.IsScanning").lower() for f in flags if result.get(f)
            ]
            if scanning:
                return True, f"scanning the {' and '.join(scanning)} library"
            return False, "scan finished"

        await watch_scan(look, report)
