"""What a target sends: the base every kind shares (plan the requests of a batch, send them,
sort a failure into transient, permanent or not-here), and the two hooks: ``webhook`` (a
signed JSON POST) and ``command`` (a program fed the batch as JSON on its standard input).

The requests a batch makes are planned once (``plan``) and either shown (``targets test``,
credentials hidden) or sent, so the two never differ."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from mediaforged.notify.model import Batch, NotHere, Permanent, Planned, Transient
from mediaforged.settings.targets import HIDDEN, TargetSpec

__all__ = [
    "CONFIRM_EVERY_S",
    "CONFIRM_FOR_S",
    "SIGNATURE_HEADER",
    "CommandSender",
    "Libraries",
    "Look",
    "Report",
    "Request",
    "Sender",
    "WebhookSender",
    "sign",
    "watch_scan",
]

SIGNATURE_HEADER = "X-Mediaforge-Signature"
_SECRET_PARAMS = frozenset({"t", "s", "p", "X-Plex-Token", "api_key"})


@dataclass(slots=True)
class Request:
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON
    secret_headers: frozenset[str] = frozenset()
    looks_up: str | None = None  # a lookup of the item at this server path (then refreshed)

    def shown(self) -> Planned:
        params = {k: HIDDEN if k in _SECRET_PARAMS else v for k, v in self.params.items()}
        url = self.url + (f"?{urlencode(params)}" if params else "")
        headers = {k: HIDDEN if k in self.secret_headers else v for k, v in self.headers.items()}
        return {"method": self.method, "url": url, "headers": headers, "body": self.body}


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _body_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


Report = Callable[[str], None]
Look = Callable[[], Awaitable[tuple[bool, str]]]  # (still scanning, what the server says)
Libraries = list[tuple[str, str, list[str]]]  # (id, name, locations as the server sees them)
CONFIRM_EVERY_S = 1.0  # how often a server is asked whether its scan is done
CONFIRM_FOR_S = 900.0  # and for how long at most
_UNSEEN_LOOKS = 5  # a scan never seen running after this many looks: it ended before


class Sender:
    """One kind of target. ``plan`` says what a batch sends and to which library; ``send``
    sends it; ``confirm`` watches the server's scan of what was sent last, ``report``ing
    each state it sees until the scan is done (it returns at once where it cannot tell)."""

    def __init__(self, spec: TargetSpec, client: httpx.AsyncClient) -> None:
        self.spec = spec
        self.client = client

    def credential(self) -> str:
        try:
            return self.spec.credential()
        except ValueError as exc:
            raise Permanent(str(exc)) from None

    async def plan(self, batch: Batch) -> tuple[str, list[Request]]:
        """The library the batch falls in ("" where the server has none) and its requests."""
        raise NotImplementedError

    async def send(self, batch: Batch) -> int:
        """Send the batch's requests in order: how many were sent."""
        _library, requests = await self.plan(batch)
        for request in requests:
            await self.http(request)
        return len(requests)

    async def confirm(self, report: Report) -> None:
        return None

    async def http(self, request: Request) -> httpx.Response:
        """Send one request; a failure raised as Transient or Permanent, saying why."""
        content = None if request.body is None else _body_bytes(request.body)
        headers = dict(request.headers)
        if content is not None:
            headers.setdefault("Content-Type", "application/json")
        try:
            response = await self.client.request(
                request.method,
                request.url,
                params=request.params or None,
                headers=headers,
                content=content,
                timeout=self.spec.timeout,
            )
        except httpx.TimeoutException:
            raise Transient(
                f"{request.method} {request.url}: no answer in {self.spec.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise Transient(
                f"{request.method} {request.url}: {exc or type(exc).__name__}"
            ) from None
        status = response.status_code
        if status < 300:
            return response
        what = f"{request.method} {request.url}: HTTP {status}"
        if status in (401, 403):
            raise Permanent(f"{what}: the server refused the credential (check token/token_file)")
        if status in (408, 425, 429) or status >= 500:
            raise Transient(what)
        raise Permanent(f"{what}: {response.text[:200].strip() or response.reason_phrase}")


class WebhookSender(Sender):
    """A JSON POST of the batch, signed: ``X-Mediaforge-Signature: sha256=<HMAC-SHA256 of the
    body with the token>`` (verify it before trusting the body)."""

    def body(self, batch: Batch) -> dict[str, Any]:
        return {
            "target": self.spec.name,
            "folder": batch.folder,
            "server_folder": batch.server_folder,
            "whole": batch.whole,
            "events": [c.as_json(batch.paths.get(c.path)) for c in batch.changes],
        }

    async def plan(self, batch: Batch) -> tuple[str, list[Request]]:
        body = self.body(batch)
        headers = {SIGNATURE_HEADER: sign(self.credential(), _body_bytes(body))}
        return "", [Request("POST", self.spec.url, headers=headers, body=body)]


class CommandSender(WebhookSender):
    """The program of ``command``, fed the webhook's JSON on its standard input; exit status
    0 is success; it is killed after ``timeout`` seconds (then retried with backoff)."""

    async def plan(self, batch: Batch) -> tuple[str, list[Request]]:
        return "", [Request("RUN", " ".join(self.spec.command), body=self.body(batch))]

    async def send(self, batch: Batch) -> int:
        data = _body_bytes(self.body(batch))
        env = {**os.environ, "MEDIAFORGE_TARGET": self.spec.name}
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.spec.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,  # a kill on timeout reaches its children too
            )
        except OSError as exc:
            raise Permanent(f"command {self.spec.command[0]}: {exc.strerror or exc}") from None
        try:
            async with asyncio.timeout(self.spec.timeout):
                _out, err = await proc.communicate(data)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            program, limit = self.spec.command[0], self.spec.timeout
            raise Transient(f"command {program}: killed after its timeout of {limit:g} s") from None
        if proc.returncode:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise Transient(
                f"command {self.spec.command[0]}: exit status {proc.returncode} {tail[0]}".strip()
            )
        return 1


def library_of(folder: str, libraries: list[tuple[str, str, list[str]]]) -> tuple[str, str]:
    """(id, name) of the library whose location holds ``folder`` (the longest); NotHere else."""
    best: tuple[int, str, str] | None = None
    for key, name, locations in libraries:
        for location in locations:
            base = location.rstrip("/")
            if (folder == base or folder.startswith(base + "/")) and (
                not best or len(base) > best[0]
            ):
                best = (len(base), key, name)
    if best is None:
        raise NotHere(f"{folder}: in no library of the server")
    return best[1], best[2]


async def watch_scan(look: Look, report: Report) -> None:
    """Ask ``look`` every CONFIRM_EVERY_S until the scan it watches is over, ``report``ing
    what the server says; a scan never seen running is over (it ended before the first
    look) after ``_UNSEEN_LOOKS``."""
    seen, looks = False, 0
    deadline = time.monotonic() + CONFIRM_FOR_S
    while time.monotonic() < deadline:
        running, text = await look()
        looks += 1
        if running:
            seen = True
        elif seen or looks >= _UNSEEN_LOOKS:
            report(text if seen else f"{text} (not seen running: it ended at once)")
            return
        report(text if running else "scan requested")
        await asyncio.sleep(CONFIRM_EVERY_S)
    report("scan still running after the confirmation's time limit")
