"""The ``/api/v1`` routes of the control commands: one line each in ``ROUTES``.

Each route calls its socket command through ``run_command``: the same function, arguments and
errors. Its request shape is made from the command's ``Spec.args`` and one table of argument
types (``ARG_TYPES``, the search filters' from search.FILTERS); its reply shape is the
protocol's TypedDict. A command that changes things (``Spec.changes``) needs an admin token.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, create_model
from starlette.responses import Response

from mediaforged.control.commands import COMMANDS
from mediaforged.control.commands.search import FILTERS
from mediaforged.http.auth import Caller, authenticate
from mediaforged.http.commands import NDJSON, run_command
from mediaforged.http.errors import STATUS, ErrorBody
from mediaforged.protocol import (
    CancelReply,
    ConfirmReply,
    ForgetReply,
    PauseReply,
    PingReply,
    ReloadReply,
    RescanReply,
    ResumeReply,
    RootsReply,
    StatusReply,
)
from mediaforged.protocol import queries as q
from mediaforged.protocol.targets import PluginsReply, TargetsReply, TargetTestReply

__all__ = ["ERROR_RESPONSES", "ROUTES", "admin", "command_router", "generic_router", "reader"]

ARG_TYPES: dict[str, Any] = {
    **{name: kind for name, (kind, _) in FILTERS.items()},
    "q": str,  # the search language (the socket's `query`, by its HTTP name)
    "query": str,
    "explain": bool,
    "exact_count": bool,
    "tags": list[str],
    "status": str,
    "sort": str,
    "limit": int,
    "offset": int,
    "cursor": str,
    "path": str,
    "full": bool,
    "verify": bool,
    "job": int,
    "root": str,
    "id": int,
    "min_size": int,
    "tier": str,
    "group": str,
    "keep": int,
    "max_distance": float,
    "tag": str,
    "all": bool,
    "paths": list[str],
    "ids": list[int],
    "name": str,
    "description": str,
    "scope": str,
    "since": int,
    "stage": str,
    "stream": bool,
    "send": bool,
}

_bearer = HTTPBearer(auto_error=False, description="A token from `mediaforgectl token create`")


_Bearer = Annotated[Any, Depends(_bearer)]  # documents the scheme in /openapi.json


async def reader(request: Request, _: _Bearer = None) -> Caller:
    """Any valid token (or session cookie)."""
    ctx = request.app.state.ctx
    return await authenticate(ctx, request.headers, request.cookies, request.method, admin=False)


async def admin(request: Request, _: _Bearer = None) -> Caller:
    """An admin token: the request changes things."""
    ctx = request.app.state.ctx
    return await authenticate(ctx, request.headers, request.cookies, request.method, admin=True)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": "an error: its stable code and a sentence"}
    for status in sorted(set(STATUS.values()))
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    command: str
    reply: Any  # the TypedDict of the reply (of its last line, for a streamed one)
    args: tuple[str, ...] | None = None  # None: every argument the command takes
    summary: str = ""


ROUTES: tuple[Route, ...] = (
    Route("GET", "/status", "status", StatusReply),
    Route("GET", "/ping", "ping", PingReply),
    Route("POST", "/rescan", "rescan", RescanReply),
    Route("POST", "/cancel", "cancel", CancelReply),
    Route("POST", "/pause", "pause", PauseReply),
    Route("POST", "/resume", "resume", ResumeReply),
    Route("POST", "/confirm", "confirm", ConfirmReply),
    Route("POST", "/reload", "reload", ReloadReply),
    Route("GET", "/items", "search", q.SearchReply, summary="search, sorted, keyset-paged"),
    Route("GET", "/items/by-path", "info", q.InfoReply, ("path",), "an item by its path"),
    Route("GET", "/items/{id}", "info", q.InfoReply, ("id",), "an item by its id"),
    Route("GET", "/why", "why", q.WhyReply),
    Route("GET", "/duplicates", "duplicates", q.DuplicatesReply),
    Route("POST", "/duplicates/merge", "duplicates.merge", q.MergeReply),
    Route("GET", "/items/{id}/similar", "similar", q.SimilarReply, ("id",), "the closest items"),
    Route("GET", "/folders", "folders", q.FoldersReply, summary="a folder's sub-folders, counted"),
    Route("GET", "/failed", "failed", q.FailedReply),
    Route("POST", "/retry", "retry", q.RetryReply),
    Route("GET", "/tags", "tag.list", q.TagListReply),
    Route("POST", "/tags/add", "tag.add", q.TagAddReply),
    Route("POST", "/tags/remove", "tag.remove", q.TagRemoveReply),
    Route("GET", "/collections", "collection.list", q.CollectionListReply),
    Route("POST", "/collections", "collection.create", q.CollectionCreateReply),
    Route("GET", "/collections/{name}", "collection.show", q.CollectionShowReply),
    Route("DELETE", "/collections/{name}", "collection.delete", q.CollectionDeleteReply),
    Route("POST", "/collections/{name}/add", "collection.add", q.CollectionEditReply),
    Route("POST", "/collections/{name}/remove", "collection.remove", q.CollectionEditReply),
    Route("GET", "/events", "events", q.EventsReply, ("since", "limit"), "the change log"),
    Route("GET", "/tokens", "token.list", q.TokenListReply),
    Route("POST", "/tokens", "token.create", q.TokenCreateReply),
    Route("DELETE", "/tokens/{name}", "token.revoke", q.TokenRevokeReply),
    Route("GET", "/roots", "roots", RootsReply, summary="the roots the catalog knows"),
    Route("GET", "/targets", "targets", TargetsReply, summary="the notify targets' health"),
    Route(
        "POST",
        "/targets/{name}/test",
        "targets.test",
        TargetTestReply,
        summary="what a change of `path` would send to the target; with `send`, send it",
    ),
    Route("GET", "/plugins", "plugins", PluginsReply, summary="the plugins' health"),
    Route("POST", "/roots/forget", "roots.forget", ForgetReply, summary="drop a removed root"),
    Route("GET", "/config", "config", dict[str, Any], summary="the settings in force"),
)


def _path_params(route: Route) -> list[str]:
    return [part[1:-1] for part in route.path.split("/") if part.startswith("{")]


def _model(route: Route, names: list[str]) -> type[BaseModel] | None:
    if not names:
        return None
    fields: dict[str, Any] = {n: (ARG_TYPES[n] | None, None) for n in names}
    title = "".join(p.capitalize() for p in route.command.replace(".", "_").split("_"))
    return create_model(
        f"{title}{'Query' if route.method == 'GET' else 'Body'}",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )


def _endpoint(route: Route) -> Any:
    spec = COMMANDS[route.command]
    in_path = _path_params(route)
    names = [a for a in (route.args if route.args is not None else spec.args) if a not in in_path]
    model = _model(route, names)

    async def endpoint(request: Request, **kwargs: Any) -> Response:
        given = kwargs.pop("args", None)
        args = given.model_dump(exclude_none=True) if given is not None else {}
        args.update({name: kwargs[name] for name in in_path})
        return await run_command(request.app.state.ctx, route.command, args)

    kw = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter(
            "caller", kw, annotation=Caller, default=Depends(admin if spec.changes else reader)
        ),
    ]
    for name in in_path:
        params.append(inspect.Parameter(name, kw, annotation=Annotated[ARG_TYPES[name], Path()]))
    if model is not None:
        where = Query() if route.method == "GET" else Body()
        params.append(
            inspect.Parameter("args", kw, annotation=Annotated[model | None, where], default=None)
        )
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = route.command.replace(".", "_")
    endpoint.__doc__ = spec.fn.__doc__
    return endpoint, spec


def command_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
    for route in ROUTES:
        endpoint, spec = _endpoint(route)
        extra: dict[str, Any] = {"response_model": route.reply}
        if spec.streams:
            extra = {
                "response_model": None,
                "response_class": Response,
                "responses": {
                    200: {
                        "description": "NDJSON: progress or event lines, then "
                        '{"ok": true, "result": ...} or {"ok": false, "error": ...}',
                        "content": {NDJSON: {"schema": {"type": "string"}}},
                    }
                },
            }
        router.add_api_route(
            route.path,
            endpoint,
            methods=[route.method],
            summary=route.summary or f"{route.command}",
            tags=["changes" if spec.changes else "reads"],
            **extra,
        )
    return router


GenericArgs = Annotated[dict[str, Any] | None, Body(description="the command's arguments")]


def generic_router() -> APIRouter:
    """``POST /api/v1/commands/{command}``: any socket command by name, with its arguments
    as the JSON body (a read token may run only the ones that change nothing)."""
    router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

    @router.post("/commands/{command}", tags=["commands"], summary="any control command")
    async def command(
        request: Request,
        command: Annotated[str, Path()],
        caller: Annotated[Caller, Depends(reader)],
        args: GenericArgs = None,
    ) -> Response:
        spec = COMMANDS.get(command)
        if spec is not None and spec.changes:
            await admin(request)
        return await run_command(request.app.state.ctx, command, args or {})

    return router
