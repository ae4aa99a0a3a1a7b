"""ffprobe and ffmpeg as asyncio subprocesses, each in its own process group, with a deadline.

A file is never passed by its path: the daemon opens it from its root without following a
link and hands the child the descriptor (``pass_fds``, ``file:/proc/self/fd/N``), so a name
like ``-h.mp4`` or ``concat:a|b.mp4`` is never read as an option or a protocol either. At
the deadline (or on cancellation) the whole group is killed and the process reaped, so a
hostile file costs its timeout and no zombie.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from mediaforged.extract.common import ExtractError

__all__ = ["fd_url", "run_tool"]

_STDERR_KEPT = 400


def fd_url(fd: int) -> bytes:
    """The URL of a descriptor handed to the child (``pass_fds``): the child opens the file
    the daemon already opened safely, never a path. Unlike ``pipe:`` it is seekable (an MP4
    whose index is at the end needs that)."""
    return b"file:/proc/self/fd/%d" % fd


async def run_tool(
    args: list[str | bytes], time_limit: float, pass_fds: tuple[int, ...] = ()
) -> bytes:
    """Run ``args``; its stdout, or ExtractError("timeout" | "tool_failed" | "no_tool").
    ``pass_fds`` stay open in the child under the same numbers."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            pass_fds=pass_fds,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: a kill takes its children too
        )
    except FileNotFoundError as exc:
        raise ExtractError("no_tool", f"{os.fsdecode(args[0])} is not installed") from exc
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), time_limit)
    except TimeoutError:
        raise ExtractError(
            "timeout", f"{os.fsdecode(args[0])} took longer than {time_limit:g}s"
        ) from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: kill the group, then reap
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(proc.wait())
    if proc.returncode != 0:
        text = stderr.decode("utf-8", "replace").strip().splitlines()
        detail = text[-1][:_STDERR_KEPT] if text else f"exit status {proc.returncode}"
        raise ExtractError("corrupt", f"{os.fsdecode(args[0])}: {detail}")
    return stdout
