"""An item's thumbnail and its file's bytes, by item id only.

The thumbnail is named by the file's SHA-256, so that hash is its strong ETag: a client that
has it gets a 304. A URL that names the hash (``?v=HASH``, as the web page asks) is served
from the thumbnail of that name without a catalog lookup: it names one picture for good.
The file is opened from its root's directory through ``fs.safepath`` (no
link at any component, a regular file, inside the root) and served as it is now, with its
current size; a ``Range`` (first bytes, a middle, a suffix) gets a 206, one past the end a
416. Reads run through the root's guard: a hung mount cannot stall the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import stat
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mediaforged.catalog.schema import media_items, media_metadata
from mediaforged.catalog.similar import waveform_of
from mediaforged.control.context import Context
from mediaforged.extract.thumbnail import thumbnail_path
from mediaforged.fs.guard import FsGuard, FsTimeout
from mediaforged.fs.safepath import FileProblem, open_under
from mediaforged.http.auth import Caller
from mediaforged.http.errors import RANGE_NOT_SATISFIABLE, HttpError
from mediaforged.http.routes import ERROR_RESPONSES, reader
from mediaforged.protocol import ErrorCode
from mediaforged.state import RootState

__all__ = ["ThumbnailLookup", "files_router", "parse_range"]

m = media_items.c
md = media_metadata.c
_CHUNK = 256 * 1024
_YEAR = 31536000
_DAY = 86400
_BATCH = 256
_HEX64 = re.compile(r"[0-9a-f]{64}")
_Found = tuple[str | None, str | None] | None  # (file_hash, thumb_status), None: no item
ItemId = Annotated[int, Path(ge=0, lt=1 << 63, description="the item's id (search, info)")]


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte of a single ``bytes=`` range, None for the whole file (no
    Range, an invalid one, or several: RFC 9110 lets a server ignore those), or HttpError
    416 when it starts past the end."""
    if not header or not header.startswith("bytes="):
        return None
    spec = header[6:].strip()
    first, dash, last = spec.partition("-")
    if "," in spec or not dash or not (first.isdigit() or (not first and last.isdigit())):
        return None
    if last and not last.isdigit():
        return None
    if not first:  # a suffix: the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(size - count, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignored
    if start >= size:
        raise _unsatisfiable(size)
    return start, min(end, size - 1)


def _unsatisfiable(size: int) -> HttpError:
    return HttpError(
        RANGE_NOT_SATISFIABLE,
        f"the range is past the file's end (it is {size} bytes now)",
        {"Content-Range": f"bytes */{size}"},
    )


class ThumbnailLookup:
    """Each item's (file_hash, thumb_status), looked up for many requests in one query.

    A grid asks for dozens of thumbnails at once over several connections; one catalog
    query per picture cost more than everything else in serving it. Requests that arrive
    while a query is being prepared wait for the same one (at most ``_BATCH`` ids), so the
    cost is shared and nothing is cached: each answer is as fresh as a lookup of its own.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._waiting: dict[int, list[asyncio.Future[_Found]]] = {}
        self._flush: asyncio.Task[None] | None = None

    async def get(self, item_id: int) -> _Found:
        """(file_hash, thumb_status) of the item, None when it is not in the catalog."""
        future: asyncio.Future[_Found] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(item_id, []).append(future)
        if self._flush is None:
            self._flush = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            await asyncio.sleep(0)  # let the requests already read off the sockets join in
            while self._waiting:
                ids = list(self._waiting)[:_BATCH]
                batch = {i: self._waiting.pop(i) for i in ids}
                try:
                    found = await self._query(ids)
                except Exception as exc:  # each waiting request answers with it (a 5xx)
                    _settle(batch, exc)
                else:
                    _settle(batch, found)
        finally:
            self._flush = None
            if self._waiting:  # cancelled with requests still waiting: they must not hang
                _settle(dict(self._waiting), asyncio.CancelledError())
                self._waiting.clear()

    async def _query(self, ids: list[int]) -> dict[int, tuple[str | None, str | None]]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(m.id, m.file_hash, md.thumb_status)
                .select_from(media_items.outerjoin(media_metadata, md.item_id == m.id))
                .where(m.id.in_(ids))
            )
            return {r.id: (r.file_hash, r.thumb_status) for r in rows}


def _settle(
    batch: dict[int, list[asyncio.Future[_Found]]],
    outcome: dict[int, tuple[str | None, str | None]] | BaseException,
) -> None:
    for item_id, futures in batch.items():
        for future in futures:
            if future.done():
                continue  # its request went away (a client that hung up)
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome.get(item_id))


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    return header.strip() == "*" or etag in [
        t.strip().removeprefix("W/") for t in header.split(",")
    ]


async def _thumbnail(request: Request, item_id: int, version: str | None) -> Response:
    ctx: Context = request.app.state.ctx
    if ctx.thumbnails is None:
        raise HttpError(ErrorCode.NOT_FOUND, "thumbnails are off (thumbnail_size = 0)")
    if version is not None and _HEX64.fullmatch(version):
        # A URL naming the content's hash (what the web page's grid asks for) names one
        # picture for good: served from its file without a catalog lookup. A hash with no
        # thumbnail (stale, or none made) falls through to the item's own.
        headers = {"ETag": f'"{version}"', "Cache-Control": f"private, max-age={_YEAR}, immutable"}
        if _etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        with contextlib.suppress(FileNotFoundError):
            path = thumbnail_path(ctx.thumbnails.folder, version)
            data = await asyncio.to_thread(path.read_bytes)
            return Response(data, media_type="image/webp", headers=headers)
    lookup: ThumbnailLookup = request.app.state.thumbnail_lookup
    found = await lookup.get(item_id)
    if found is None:
        raise HttpError(ErrorCode.NOT_FOUND, f"item {item_id} is not in the catalog")
    file_hash, thumb_status = found
    if not file_hash or thumb_status != "ok":
        state = thumb_status or "pending"
        raise HttpError(ErrorCode.NOT_FOUND, f"item {item_id} has no thumbnail ({state})")
    etag = f'"{file_hash}"'
    # By id, the picture changes when the file does: a day, then the ETag says if it did.
    # A URL naming the hash (?v=HASH) can never change: a year, immutable.
    lifetime = f"max-age={_YEAR}, immutable" if version == file_hash else f"max-age={_DAY}"
    headers = {"ETag": etag, "Cache-Control": f"private, {lifetime}"}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    path = thumbnail_path(ctx.thumbnails.folder, file_hash)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise HttpError(ErrorCode.NOT_FOUND, f"item {item_id} has no thumbnail (removed)") from None
    return Response(data, media_type="image/webp", headers=headers)


def _open(root: bytes, path: bytes) -> tuple[int, os.stat_result]:
    fd = open_under(root, path)
    return fd, os.fstat(fd)


class _FileSlice(Response):
    """``length`` bytes of ``fd`` from ``start``, read through the root's guard; the
    descriptor is closed however the response ends (sent, cut, never started)."""

    def __init__(
        self, fd: int, span: tuple[int, int], guard: FsGuard, status: int, headers: Any
    ) -> None:
        super().__init__(status_code=status, headers=headers)
        start, length = span
        self._fd, self._start, self._length, self._guard = fd, start, length, guard
        self.headers["content-length"] = str(length)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code,
                 "headers": self.raw_headers}
            )  # fmt: skip
            offset, left = self._start, self._length
            while left > 0:
                try:
                    chunk = await self._guard.call(os.pread, self._fd, min(_CHUNK, left), offset)
                except (OSError, FsTimeout):
                    chunk = b""
                if not chunk:  # shrank (or stopped answering) while being sent: end early
                    break
                offset, left = offset + len(chunk), left - len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
            if left > 0 or self._length == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            os.close(self._fd)


def _root_of(ctx: Context, root_id: int, item_id: int) -> RootState:
    for root in ctx.state.roots:
        if root.id == root_id:
            return root
    raise HttpError(ErrorCode.NOT_FOUND, f"item {item_id}'s root is not configured any more")


async def _content(request: Request, item_id: int) -> Response:
    ctx: Context = request.app.state.ctx
    async with ctx.engine.connect() as conn:
        row = (
            await conn.execute(select(m.path_key, m.root_id, m.mime_type).where(m.id == item_id))
        ).first()
    if row is None:
        raise HttpError(ErrorCode.NOT_FOUND, f"item {item_id} is not in the catalog")
    root = _root_of(ctx, row.root_id, item_id)
    guard = ctx.reconciler.fs(root)
    try:
        fd, st = await guard.call(_open, root.key, row.path_key)
    except FileProblem as problem:
        raise HttpError(ErrorCode.NOT_FOUND, f"item {item_id}: {problem.message}") from None
    except FsTimeout as exc:
        raise HttpError(ErrorCode.UNREACHABLE, str(exc)) from None
    try:
        size = st.st_size if stat.S_ISREG(st.st_mode) else 0
        wanted = parse_range(request.headers.get("range"), size)
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Type": row.mime_type or "application/octet-stream",
            "Cache-Control": "private, no-cache",
            "ETag": f'W/"{st.st_size:x}-{st.st_mtime_ns:x}"',
            # What a library holds is the user's, not ours: never run as a page of this site.
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        }
        if wanted is None:
            return _FileSlice(fd, (0, size), guard, 200, headers)
        first, last = wanted
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return _FileSlice(fd, (first, last - first + 1), guard, 206, headers)
    except BaseException:
        os.close(fd)
        raise


def files_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["files"])

    @router.get(
        "/items/{id}/thumbnail",
        summary="the item's thumbnail (WebP)",
        response_class=Response,
        responses={200: {"content": {"image/webp": {}}}, 304: {"description": "not modified"}},
    )
    async def thumbnail(
        request: Request,
        caller: Annotated[Caller, Depends(reader)],
        id: ItemId,
        v: Annotated[str | None, Query(description="the item's file_hash: cached for good")] = None,
    ) -> Response:
        return await _thumbnail(request, id, v)

    @router.get("/items/{id}/waveform", summary="an audio item's waveform: min/max peaks")
    async def waveform(
        request: Request,
        caller: Annotated[Caller, Depends(reader)],
        id: ItemId,
    ) -> dict[str, Any]:
        ctx: Context = request.app.state.ctx
        async with ctx.engine.connect() as conn:
            state, peaks = await waveform_of(conn, id)
        if peaks is None:
            why = {"no_item": "is not in the catalog", "pending": "has no waveform yet"}
            raise HttpError(ErrorCode.NOT_FOUND, f"item {id} {why.get(state, 'has no waveform')}")
        return {"id": id, "peaks": peaks}

    @router.get(
        "/items/{id}/content",
        summary="the file's bytes, with Range",
        response_class=Response,
        responses={
            200: {"content": {"application/octet-stream": {}}},
            206: {"description": "the range asked for"},
        },
    )
    async def content(
        request: Request,
        caller: Annotated[Caller, Depends(reader)],
        id: ItemId,
    ) -> Response:
        return await _content(request, id)

    return router
