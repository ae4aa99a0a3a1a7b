"""The FastAPI application: the routers, login, health, the schema, and the error replies.

Only ``GET /healthz`` is open; ``/openapi.json`` needs a token like the rest. Every error,
FastAPI's own included (a bad parameter, an unknown route), is the socket's error object
with its status from ``errors.STATUS``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from typing_extensions import TypedDict

from mediaforged import __version__
from mediaforged.control.context import Context
from mediaforged.http.auth import COOKIE, Caller, LoginLimiter
from mediaforged.http.errors import UNAUTHORIZED, HttpError, JsonResponse, error_response
from mediaforged.http.events import events_router
from mediaforged.http.files import ThumbnailLookup, files_router
from mediaforged.http.routes import ERROR_RESPONSES, admin, command_router, generic_router, reader
from mediaforged.http.web import web_router
from mediaforged.protocol import ErrorCode

__all__ = ["make_app"]

log = structlog.get_logger("mediaforged.http")

_COOKIE_DAYS = 30


class LoginReply(TypedDict):
    name: str  # the token's name
    scope: str


class HealthReply(TypedDict):
    ok: bool
    version: str


def _client(request: Request) -> str:
    return request.client.host if request.client else "unix"


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(HttpError)
    async def http_error(request: Request, exc: HttpError) -> Response:
        return error_response(exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
            problems.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
        return error_response(ErrorCode.BAD_REQUEST, "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def starlette_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = ErrorCode.NOT_FOUND if exc.status_code == 404 else ErrorCode.BAD_REQUEST
        response = error_response(code, str(exc.detail))
        response.status_code = exc.status_code
        return response

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        log.error("http_request_failed", path=request.url.path, error=repr(exc))
        return error_response(ErrorCode.INTERNAL, f"internal error: {exc}")


def _session_routes(app: FastAPI, limiter: LoginLimiter) -> None:
    @app.post(
        "/api/v1/login",
        tags=["session"],
        summary="a session cookie for a browser",
        responses=ERROR_RESPONSES,
    )
    async def login(
        request: Request, token: Annotated[str, Body(embed=True, max_length=200)]
    ) -> LoginReply:
        """Check the token and set it as an HttpOnly, SameSite=Strict cookie. Failed logins
        from one address are limited (429 with Retry-After)."""
        ctx: Context = request.app.state.ctx
        address = _client(request)
        limiter.check(address)
        info = await ctx.tokens.check(ctx.engine, ctx.writer, token)
        if info is None:
            limiter.failed(address)
            log.warning("http_login_failed", client=address)
            raise HttpError(UNAUTHORIZED, "this token is not valid (revoked, or never made here)")
        response = JsonResponse({"name": info.name, "scope": info.scope})
        response.set_cookie(
            COOKIE,
            token,
            max_age=_COOKIE_DAYS * 86400,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response  # type: ignore[return-value]

    @app.post("/api/v1/logout", tags=["session"], summary="forget the session cookie")
    async def logout(caller: Annotated[Caller, Depends(reader)]) -> dict[str, bool]:
        response = JsonResponse({"ok": True})
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response  # type: ignore[return-value]


def make_app(ctx: Context, closing: asyncio.Event) -> FastAPI:
    app = FastAPI(
        title="mediaforged",
        version=__version__,
        description="The media catalog over HTTP: the control commands, thumbnails, file "
        "contents and the change log. Every route but /healthz needs a token.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        default_response_class=JsonResponse,
    )
    app.state.ctx = ctx
    app.state.thumbnail_lookup = ThumbnailLookup(ctx.engine)
    _install_errors(app)

    @app.get("/healthz", tags=["session"], summary="alive (no token needed)")
    async def healthz() -> HealthReply:
        return {"ok": True, "version": __version__}

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(caller: Annotated[Caller, Depends(reader)]) -> Any:
        return JsonResponse(app.openapi())

    _session_routes(app, LoginLimiter())
    app.include_router(command_router())
    app.include_router(generic_router())
    app.include_router(files_router())
    app.include_router(events_router(closing))
    app.include_router(_metrics_router(), dependencies=[Depends(admin)])
    app.include_router(web_router())  # last: its catch-all serves the page's own routes
    return app


def _metrics_router() -> APIRouter:
    router = APIRouter(tags=["metrics"])

    @router.get("/metrics", summary="the Prometheus series (an admin token)")
    async def metrics(request: Request) -> Response:
        """Every ``mediaforge_`` series in the Prometheus text format, as ``mediaforgectl
        metrics`` prints and ``metrics_listen`` serves without a token."""
        ctx: Context = request.app.state.ctx
        body, content_type = await ctx.metrics.render(ctx)
        return Response(body, media_type=content_type)

    return router
