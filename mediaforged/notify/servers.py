"""The media servers, each as its API documents it:

- jellyfin, emby: ``POST /Library/Media/Updated`` ``{"Updates": [{"Path", "UpdateType"}]}``
  (Created, Modified, Deleted; the folder alone, Modified, when a batch is too big to list);
- plex: the sections and their locations from ``GET /library/sections``, then
  ``GET /library/sections/{id}/refresh?path=FOLDER`` (``X-Plex-Token``); ``/activities`` says
  whether a scan runs;
- navidrome: Subsonic ``startScan`` (token auth: ``t`` = md5(password + salt)), and
  ``getScanStatus``;
- kodi: JSON-RPC ``VideoLibrary.Scan``/``AudioLibrary.Scan`` with ``directory`` (``Clean``
  with it for files gone);
- immich, audiobookshelf: the scan endpoint of the library whose folders hold the path.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any

import httpx

from mediaforged.notify.model import Batch, Permanent, Transient
from mediaforged.notify.senders import (
    CommandSender,
    Request,
    Sender,
    WebhookSender,
    library_of,
)
from mediaforged.settings.targets import TargetSpec

__all__ = ["make_sender"]

_LIBRARIES_TTL_S = 60.0  # a library list older than this is fetched again on a miss
Libraries = list[tuple[str, str, list[str]]]  # (id, name, locations as the server sees them)


def _update_type(kind: str) -> str:
    if kind in ("missing", "moved_from"):
        return "Deleted"
    return "Modified" if kind == "changed" else "Created"


class Jellyfin(Sender):
    async def plan(self, batch: Batch) -> tuple[str, list[Request]]:
        if batch.whole:
            updates = [{"Path": batch.server_folder, "UpdateType": "Modified"}]
        else:
            updates = [
                {"Path": batch.paths[path], "UpdateType": _update_type(change.kind)}
                for path, change in batch.latest().items()
            ]
        token = self.credential()
        headers = {"X-Emby-Token": token, "Authorization": f'MediaBrowser Token="{token}"'}
        request = Request(
            "POST",
            f"{self.spec.url}/Library/Media/Updated",
            headers=headers,
            body={"Updates": updates},
            secret_headers=frozenset(headers),
        )
        return "", [request]


class WithLibraries(Sender):
    """A server whose scans are per library: the list is fetched once and again on a miss."""

    def __init__(self, spec: TargetSpec, client: httpx.AsyncClient) -> None:
        super().__init__(spec, client)
        self._libraries: Libraries = []
        self._fetched = 0.0

    async def fetch(self) -> Libraries:
        raise NotImplementedError

    async def library(self, folder: str) -> tuple[str, str]:
        if not self._libraries or time.monotonic() - self._fetched > _LIBRARIES_TTL_S:
            self._libraries, self._fetched = await self.fetch(), time.monotonic()
        return library_of(folder, self._libraries)

    def auth(self) -> dict[str, str]:
        raise NotImplementedError

    async def get_json(self, url: str) -> Any:
        headers = {"Accept": "application/json", **self.auth()}
        response = await self.http(Request("GET", url, headers=headers))
        try:
            return response.json()
        except ValueError:
            raise Transient(f"GET {url}: the answer is not JSON") from None


class Plex(WithLibraries):
    def auth(self) -> dict[str, str]:
        return {"X-Plex-Token": self.credential()}

    async def fetch(self) -> Libraries:
        data = await self.get_json(f"{self.spec.url}/library/sections")
        found = data.get("MediaContainer", {}).get("Directory", [])
        return [
            (str(d["key"]), str(d.get("title", "")), [loc["path"] for loc in d.get("Location", [])])
            for d in found
        ]

    async def plan(self, batch: Batch) -> tuple[str, list[Request]]:
        key, name = await self.library(batch.server_folder)
        url = f"{self.spec.url}/library/sections/{key}/refresh"
        request = Request(
            "GET",
            url,
            params={"path": batch.server_folder},
            headers=self.auth(),
            secret_headers=frozenset({"X-Plex-Token"}),
        )
        return name, [request]

    async def confirm(self) -> str | None:
        data = await self.get_json(f"{self.spec.url}/activities")
        running = [
            a for a in data.get("MediaContainer", {}).get("Activity", [])
            if str(a.get("type", "")).startswith("library.")
        ]  # fmt: skip
        if running:
            return f"scanning: {running[0].get('title', '')}".strip()
        return "no scan running (done)"


class Immich(WithLibraries):
    def auth(self) -> dict[str, str]:
        return {"x-api-key": self.credential()}

    async def fetch(self) -> Libraries:
        data = await self.get_json(f"{self.spec.url}/api/libraries")
        return [
            (str(d["id"]), str(d.get("name", "")), list(d.get("importPaths", []))) for d in data
        ]

    async def plan(self, batch: Batch) -> tuple[str, list[Request]]:
        key, name = await self.library(batch.server_folder)
        url = f"{self.spec.url}/api/libraries/{key}/scan"
        return name, [
            Request(
                "POST", url, headers=self.auth(), body={}, secret_headers=frozenset(self.auth())
            )
        ]


class Audiobookshelf(WithLibraries):
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential()}"}

    async def fetch(self) -> Libraries:
        data = await self.get_json(f"{self.spec.url}/api/libraries")
        return [
            (str(d["id"]), str(d.get("name", "")), [f["fullPath"] for f in d.get("folders", [])])
            for d in data.get("libraries", [])
        ]

    async def plan(self, batch: Batch) -> tuple[str, list[Request]]:
        key, name = await self.library(batch.server_folder)
        url = f"{self.spec.url}/api/libraries/{key}/scan"
        return name, [
            Request("POST", url, headers=self.auth(), secret_headers=frozenset({"Authorization"}))
        ]


class Navidrome(Sender):
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

    async def call(self, method: str) -> dict[str, Any]:
        response = await self.http(
            Request("GET", f"{self.spec.url}/rest/{method}", params=self.params())
        )
        try:
            reply = response.json()["subsonic-response"]
        except (ValueError, KeyError):
            raise Transient(f"{method}: not a Subsonic answer") from None
        if reply.get("status") != "ok":
            error = reply.get("error", {})
            text = f"{method}: Subsonic error {error.get('code')}: {error.get('message', '')}"
            raise (Permanent if error.get("code") in (40, 41, 50) else Transient)(text)
        return dict(reply)

    async def plan(self, batch: Batch) -> tuple[str, list[Request]]:
        return "", [Request("GET", f"{self.spec.url}/rest/startScan", params=self.params())]

    async def send(self, batch: Batch) -> int:
        await self.call("startScan")
        return 1

    async def confirm(self) -> str | None:
        status = (await self.call("getScanStatus")).get("scanStatus", {})
        state = "scanning" if status.get("scanning") else "scan finished"
        return f"{state} ({status.get('count', 0)} files)"


class Kodi(Sender):
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
            reply = (await self.http(request)).json()
            if "error" in reply:
                raise Permanent(
                    f"{request.body['method']}: {reply['error'].get('message', reply['error'])}"
                )
        return len(requests)


_KINDS: dict[str, type[Sender]] = {
    "jellyfin": Jellyfin,
    "emby": Jellyfin,
    "plex": Plex,
    "navidrome": Navidrome,
    "kodi": Kodi,
    "immich": Immich,
    "audiobookshelf": Audiobookshelf,
    "webhook": WebhookSender,
    "command": CommandSender,
}


def make_sender(spec: TargetSpec, client: httpx.AsyncClient) -> Sender:
    return _KINDS[spec.kind](spec, client)
