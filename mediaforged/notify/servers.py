"""The media servers, each as its API documents it:

- jellyfin, emby: ``POST /Library/Media/Updated`` ``{"Updates": [{"Path", "UpdateType"}]}``
  (Created, Modified, Deleted; the folder alone, Modified, when a batch is too big to list);
  then each changed file the server already has (found by ``GET /Items?searchTerm=NAME``
  and matched on its ``Path``) is refreshed with ``POST /Items/{id}/Refresh``;
- plex: the sections and their locations from ``GET /library/sections``, then
  ``GET /library/sections/{id}/refresh?path=FOLDER`` (``X-Plex-Token``); the scan is
  confirmed by the ``library.update.section`` activity of that section in ``/activities``,
  until it is gone;
- navidrome: Subsonic ``startScan`` (token auth: ``t`` = md5(password + salt)) with
  ``target=LIBRARY:FOLDER`` where the server takes targets (0.59 and later, as ``ping``'s
  ``serverVersion`` says; the libraries' paths from its native ``/api/library``), a full
  scan otherwise; ``getScanStatus`` confirms it;
- kodi: JSON-RPC ``VideoLibrary.Scan``/``AudioLibrary.Scan`` with ``directory`` (``Clean``
  with it for files gone); only its HTTP port is configured, so the scan is confirmed by
  polling ``XBMC.GetInfoBooleans`` (``Library.IsScanningVideo``/``IsScanningMusic``) until
  both are false, where its TCP port would push ``OnScanFinished``;
- immich, audiobookshelf: the scan endpoint of the library whose folders hold the path.
"""

from __future__ import annotations

import posixpath
import time
from typing import Any

import httpx
import structlog

from mediaforged.notify.model import Batch, Permanent, Transient
from mediaforged.notify.rpc import Kodi, Navidrome
from mediaforged.notify.senders import (
    CommandSender,
    Libraries,
    Report,
    Request,
    Sender,
    WebhookSender,
    library_of,
    watch_scan,
)
from mediaforged.settings.targets import TargetSpec

__all__ = ["make_sender"]

log = structlog.get_logger("mediaforged.notify")

_LIBRARIES_TTL_S = 60.0  # a library list older than this is fetched again on a miss
_REFRESH_MAX = 10  # changed files of a batch refreshed one by one (the scan covers the rest)


def _update_type(kind: str) -> str:
    if kind in ("missing", "moved_from"):
        return "Deleted"
    return "Modified" if kind == "changed" else "Created"


class Jellyfin(Sender):
    def headers(self) -> dict[str, str]:
        token = self.credential()
        return {"X-Emby-Token": token, "Authorization": f'MediaBrowser Token="{token}"'}

    async def plan(self, batch: Batch) -> tuple[str, list[Request]]:
        latest = batch.latest()
        if batch.whole:
            updates = [{"Path": batch.server_folder, "UpdateType": "Modified"}]
        else:
            updates = [
                {"Path": batch.paths[path], "UpdateType": _update_type(change.kind)}
                for path, change in latest.items()
            ]
        headers = self.headers()
        secret = frozenset(headers)
        requests = [
            Request(
                "POST",
                f"{self.spec.url}/Library/Media/Updated",
                headers=headers,
                body={"Updates": updates},
                secret_headers=secret,
            )
        ]
        changed = [batch.paths[p] for p, c in latest.items() if c.kind == "changed"]
        for server_path in changed[:_REFRESH_MAX]:  # the server has these already
            name = posixpath.splitext(posixpath.basename(server_path))[0]
            params = {
                "searchTerm": name,
                "Recursive": "true",
                "Fields": "Path",
                "EnableImages": "false",
                "EnableTotalRecordCount": "false",
                "Limit": "50",
            }
            lookup = Request("GET", f"{self.spec.url}/Items", params, {**headers}, None, secret)
            lookup.looks_up = server_path
            requests.append(lookup)
        return "", requests

    async def send(self, batch: Batch) -> int:
        _library, requests = await self.plan(batch)
        sent = 0
        for request in requests:
            if request.looks_up is None:
                await self.http(request)
                sent += 1
            else:
                sent += await self._refresh(request, request.looks_up)
        return sent

    async def _refresh(self, lookup: Request, server_path: str) -> int:
        """Refresh the item at ``server_path`` if the server has it: the requests made. Its
        failure is logged only: the Media/Updated scan went out already."""
        try:
            found = (await self.http(lookup)).json().get("Items") or []
            item = next((i for i in found if i.get("Path") == server_path), None)
            if item is None:
                return 1
            params = {
                "metadataRefreshMode": "Default",
                "imageRefreshMode": "Default",
                "replaceAllMetadata": "false",
                "replaceAllImages": "false",
            }
            url = f"{self.spec.url}/Items/{item['Id']}/Refresh"
            await self.http(Request("POST", url, params, self.headers()))
        except (Transient, Permanent, ValueError, AttributeError, KeyError) as exc:
            log.warning("target_refresh_failed", target=self.spec.name, path=server_path,
                        error=str(exc))  # fmt: skip
            return 1
        return 2


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
    def __init__(self, spec: TargetSpec, client: httpx.AsyncClient) -> None:
        super().__init__(spec, client)
        self._asked: tuple[str, str] | None = None  # the section refreshed last

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

    async def send(self, batch: Batch) -> int:
        sent = await super().send(batch)
        self._asked = await self.library(batch.server_folder)  # what confirm watches
        return sent

    async def confirm(self, report: Report) -> None:
        """The ``library.update.section`` activity of the section refreshed last."""
        if self._asked is None:
            return
        key, name = self._asked

        async def look() -> tuple[bool, str]:
            data = await self.get_json(f"{self.spec.url}/activities")
            for activity in data.get("MediaContainer", {}).get("Activity", []) or []:
                section = str((activity.get("Context") or {}).get("librarySectionID", ""))
                if activity.get("type") == "library.update.section" and section == key:
                    said = activity.get("subtitle") or activity.get("title") or ""
                    return True, f"scanning {name}: {said}".rstrip(": ")
            return False, f"scan of {name} finished"

        await watch_scan(look, report)


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
