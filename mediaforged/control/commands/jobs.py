"""The commands that start, steer or stop work: rescan, cancel, pause, resume, confirm, reload."""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
from typing import Any

import structlog
from sqlalchemy import and_, or_, select

from mediaforged.catalog.schema import media_items
from mediaforged.control.context import Context, Progress, Spec, arg, follow_jobs, path_arg
from mediaforged.fs.fsio import under
from mediaforged.fs.guard import FsTimeout
from mediaforged.fs.safepath import FileProblem, lstat_under
from mediaforged.protocol import (
    CancelReply,
    ConfirmReply,
    ErrorCode,
    PauseReply,
    ProtocolError,
    ReloadReply,
    RescanReply,
    ResumeReply,
    VerifyResult,
)
from mediaforged.state import Job, JobKind, RootState

__all__ = ["COMMANDS"]

log = structlog.get_logger("mediaforged.commands")

_CANCEL_WAIT_S = 5.0


async def rescan(ctx: Context, args: dict[str, Any], progress: Progress) -> RescanReply:
    """Reconcile a root, a subtree or one file (or every root) and wait until it is committed.
    ``verify``: then decode every media file there in full (whatever the ``verify`` setting)
    and wait for the verdicts; with ``full`` that is the whole bit-rot check."""
    path_text = arg(args, "path", str)
    full = bool(arg(args, "full", bool, False))
    verify = bool(arg(args, "verify", bool, False))
    jobs: list[Job] = []
    path: bytes | None = None
    if path_text is None:
        await ctx.metadata.retry_failed(None)  # a rescan asks failed extractions again
        jobs = [ctx.reconciler.request(r, None, JobKind.RESCAN, full) for r in ctx.state.roots]
    else:
        path, root = path_arg(ctx, path_text)
        await _must_be_known(ctx, root, path, path_text)
        await ctx.metadata.retry_failed(path)
        jobs = [ctx.reconciler.request(root, path, JobKind.RESCAN, full)]
    await progress({"jobs": [j.progress() for j in jobs]})
    await follow_jobs(jobs, progress)
    _raise_if_cancelled(jobs)
    reply: RescanReply = {
        "jobs": [j.progress() for j in jobs],
        "errors": [j.error for j in jobs if j.error],
    }
    if verify and ctx.verifier is not None:
        reply["verify"] = await _verify(ctx, path, progress)
    return reply


async def _verify(ctx: Context, path: bytes | None, progress: Progress) -> VerifyResult:
    """Decode the media under ``path`` again and wait: how many, and how many are damaged."""
    verifier = ctx.verifier
    assert verifier is not None
    asked = await verifier.request(path)

    async def left(n: int) -> None:
        await progress({"jobs": [], "verify_pending": n})

    await verifier.wait_requested(left)
    return {"verified": asked, "corrupt": await verifier.corrupt_items(path)}


async def _must_be_known(ctx: Context, root: RootState, path: bytes, text: str) -> None:
    """A path neither on disk nor in the catalog is a typo, not a rescan that marks "1
    missing"; a catalogued file (or folder) that vanished is a real one, marked missing."""
    if path == root.key:
        return  # an offline root is the reconcile's to report
    try:
        await ctx.reconciler.fs(root).call(lstat_under, root.key, path)
        return
    except FileProblem as problem:
        if problem.code != "vanished":
            return  # there but unreadable, or behind a symlink: the rescan says which
    except FsTimeout:
        return  # the root hangs: the rescan reports it offline
    c = media_items.c
    low, high = under(path)
    async with ctx.engine.connect() as conn:
        known = await conn.scalar(
            select(c.id)
            .where(or_(c.path_key == path, and_(c.path_key >= low, c.path_key < high)))
            .limit(1)
        )
    if known is None:
        raise ProtocolError(
            ErrorCode.NOT_FOUND,
            f"no such file or folder: {text} (not on disk, and nothing is catalogued there)",
        )


def _raise_if_cancelled(jobs: list[Job]) -> None:
    stopped = [j for j in jobs if j.cancelled]
    if stopped:
        done = ", ".join(
            f"{os.fsdecode(j.path)}: {j.done - j.dropped} of {j.queued} files done" for j in stopped
        )
        raise ProtocolError(
            ErrorCode.CANCELLED,
            f"cancelled ({done}); files it did not reach are left as they were catalogued",
        )


async def cancel(ctx: Context, args: dict[str, Any], progress: Progress) -> CancelReply:
    """Cancel a reconcile or rescan job (by its id, from status), or every job not done.
    Waits a few seconds for them to stop: files already being hashed finish first."""
    job_id = arg(args, "job", int)
    if job_id is not None and job_id not in ctx.state.jobs:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no job {job_id} (see `mediaforgectl status`)")
    jobs = ctx.reconciler.cancel(job_id)
    if jobs:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(j.wait() for j in jobs)), _CANCEL_WAIT_S)
    return {"cancelled": [j.progress() for j in jobs]}


def _root_arg(ctx: Context, args: dict[str, Any], required: bool) -> RootState | None:
    """The root named by ``args["root"]`` (its path, as configured), or None for all."""
    text = arg(args, "root", str)
    if text is None:
        if required:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "root is required")
        return None
    wanted = os.fsencode(posixpath.normpath(text)) if text else b""
    for root in ctx.state.roots:
        if root.key == wanted:
            return root
    shown = ", ".join(str(r.path) for r in ctx.state.roots)
    raise ProtocolError(ErrorCode.NOT_IN_LIBRARY, f"{text} is not a library root ({shown})")


async def pause(ctx: Context, args: dict[str, Any], progress: Progress) -> PauseReply:
    """Hold indexing of one root, or of all (changes are still noticed; nothing is dropped)."""
    root = _root_arg(ctx, args, required=False)
    if root is not None:
        root.paused = True
        log.info("paused", root=str(root.path))
        return {"paused": [str(r.path) for r in ctx.state.roots if r.paused]}
    ctx.state.paused = True
    ctx.indexer.resumed.clear()
    log.info("paused", root="all")
    return {"state": "paused"}


async def resume(ctx: Context, args: dict[str, Any], progress: Progress) -> ResumeReply:
    root = _root_arg(ctx, args, required=False)
    for r in [root] if root is not None else ctx.state.roots:
        if r.paused:
            r.paused = False
            ctx.reconciler.resume_root(r)
    if root is None:
        ctx.state.paused = False
        ctx.indexer.resumed.set()
    log.info("resumed", root=str(root.path) if root else "all")
    return {"state": ctx.state.phase, "paused": [str(r.path) for r in ctx.state.roots if r.paused]}


async def confirm(ctx: Context, args: dict[str, Any], progress: Progress) -> ConfirmReply:
    """Let the held-back reconcile of a root mark its vanished files missing."""
    root = _root_arg(ctx, args, required=True)
    assert root is not None
    if not root.held:
        return {"root": str(root.path), "confirmed": False, "reason": "nothing is held back"}
    held = root.held_missing
    root.confirmed = True
    log.info("missing_confirmed", root=str(root.path), missing=held)
    job = ctx.reconciler.request(root, None, JobKind.CONFIRM)
    await follow_jobs([job], progress)
    _raise_if_cancelled([job])
    return {"root": str(root.path), "confirmed": True, "missing": job.gone, "held": held}


async def reload(ctx: Context, args: dict[str, Any], progress: Progress) -> ReloadReply:
    """Re-read the config file and apply it, as SIGHUP does."""
    result = await ctx.reloader()
    if not result.get("ok"):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"invalid configuration: {result['error']}")
    return {
        "ok": True,
        "roots_added": result["roots_added"],
        "roots_removed": result["roots_removed"],
        "watch_restarted": result["watch_restarted"],
        "needs_restart": result["needs_restart"],
    }


COMMANDS: dict[str, Spec] = {
    "rescan": Spec(rescan, ("path", "full", "verify"), changes=True, streams=True),
    "pause": Spec(pause, ("root",), changes=True),
    "resume": Spec(resume, ("root",), changes=True),
    "confirm": Spec(confirm, ("root",), changes=True, streams=True),
    "cancel": Spec(cancel, ("job",), changes=True),
    "reload": Spec(reload, changes=True),
}
