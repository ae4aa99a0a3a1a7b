"""The web page: the built bundle of ``web/`` (in ``static/``, shipped in the package) at ``/``.

The files are listed once when the app is made, so a request names one of them or gets
``index.html``: no path from a URL is ever joined to a folder. ``assets/`` holds Vite's
hashed names, cached for good; everything else (``index.html`` above all) is revalidated,
so a new daemon's page is seen at the next load. Any path that is not a file and not under
``/api/`` is one of the page's own routes (``/item/12``, ``/folders``): ``index.html``.
``GET /api/v1/session`` tells the page which token its cookie is (an admin's sees the edits).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from starlette.responses import Response
from typing_extensions import TypedDict

from mediaforged.http.auth import Caller
from mediaforged.http.errors import HttpError
from mediaforged.http.routes import ERROR_RESPONSES, reader
from mediaforged.protocol import ErrorCode

__all__ = ["STATIC", "web_router"]

STATIC = Path(__file__).parent / "static"
_YEAR = 365 * 86400
_NOT_PAGES = ("api/", "healthz", "metrics", "openapi.json")  # the API's, never the page's

_MISSING = (
    b"<!doctype html><title>mediaforged</title><p>The web page is not built in this "
    b"install (mediaforged/http/static/index.html is missing): run <code>npm ci && npm run "
    b"build</code> in web/, or use the API under /api/v1.</p>"
)


class SessionReply(TypedDict):
    name: str  # the token's name
    scope: str


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str
    immutable: bool


def _types() -> None:
    # The system's mime.types may lack these (a slim container has none at all).
    for ext, kind in ((".js", "text/javascript"), (".css", "text/css"), (".svg", "image/svg+xml")):
        mimetypes.add_type(kind, ext)


def load_assets(folder: Path = STATIC) -> dict[str, Asset]:
    """Every file of the bundle by its URL path (``assets/index-3f2a.js``), read once: the
    bundle is small (a few hundred KB) and never changes under a running daemon."""
    _types()
    out: dict[str, Asset] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        name = path.relative_to(folder).as_posix()
        body = path.read_bytes()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind == "application/javascript":
            kind += "; charset=utf-8"
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        out[name] = Asset(body, kind, etag, immutable=name.startswith("assets/"))
    return out


def _reply(request: Request, asset: Asset) -> Response:
    cache = f"public, max-age={_YEAR}, immutable" if asset.immutable else "no-cache"
    headers = {"ETag": asset.etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if asset.media_type.startswith("text/html"):
        # The page only talks to its own origin; no framing (clickjacking of the buttons).
        headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; frame-ancestors 'none'"
        )
        headers["X-Frame-Options"] = "DENY"
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else asset.body
    return Response(body, media_type=asset.media_type, headers=headers)


def web_router(folder: Path = STATIC) -> APIRouter:
    """Mounted last in make_app: every other route is matched first."""
    assets = load_assets(folder)
    index = assets.get("index.html") or Asset(_MISSING, "text/html; charset=utf-8", '"none"', False)
    router = APIRouter()

    @router.get(
        "/api/v1/session", tags=["session"], summary="who is logged in", responses=ERROR_RESPONSES
    )
    async def session(caller: Annotated[Caller, Depends(reader)]) -> SessionReply:
        """The token of this request (cookie or header): its name and scope, so the page
        shows changing controls to an admin token only."""
        return {"name": caller.token.name, "scope": caller.token.scope}

    @router.api_route("/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def page(request: Request, path: Annotated[str, PathParam()]) -> Response:
        if path.startswith(_NOT_PAGES):
            raise HttpError(ErrorCode.NOT_FOUND, f"no route /{path}")
        asset = assets.get(path)
        if asset is None:
            if path.startswith("assets/"):  # an old page's bundle: a 404, not the page
                raise HttpError(ErrorCode.NOT_FOUND, f"/{path} is not in this version's page")
            asset = index
        return _reply(request, asset)

    return router
