"""ffprobe and ffmpeg as asyncio subprocesses, each in its own process group, with a deadline.

A path is always passed as ``file:PATH`` so that a name like ``-h.mp4`` or ``concat:a|b.mp4``
is never read as an option or a protocol. At the deadline (or on cancellation) the whole
group is killed and the process reaped, so a hostile file costs its timeout and no zombie.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from mediaforged.extract.common import ExtractError

__all__ = ["file_url", "run_tool"]

_STDERR_KEPT = 400


def file_url(path: bytes) -> bytes:
    # An absolute path after "file:" is taken as it is: no escaping, no option parsing.
    return b"file:" + path


async def run_tool(args: list[str | bytes], time_limit: float) -> bytes:
    """Run ``args``; its stdout, or ExtractError("timeout" | "tool_failed" | "no_tool")."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
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
