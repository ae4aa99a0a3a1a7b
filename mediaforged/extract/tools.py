"""ffprobe and ffmpeg as asyncio subprocesses, each in its own process group, with a deadline.

A file is never passed by its path: the daemon opens it from its root without following a
link and hands the child the descriptor (``pass_fds``, ``file:/proc/self/fd/N``), so a name
like ``-h.mp4`` or ``concat:a|b.mp4`` is never read as an option or a protocol either. At
the deadline (or on cancellation) the whole group is killed and the process reaped, so a
hostile file costs its timeout and no zombie.
Each tool dies with the daemon too (Linux's parent-death signal): after a kill -9 of the
daemon a probe of a hostile file went on, reparented to PID 1, until its own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
from collections.abc import Callable
from typing import Any

from mediaforged.extract.common import ExtractError

__all__ = ["die_with", "fd_url", "run_tool"]

_STDERR_KEPT = 400
_PR_SET_PDEATHSIG = 1


def _libc_prctl() -> Callable[..., Any] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the tools only end at their deadline
        return None


# Looked up here, once: the child between fork and exec must do as little as it can (no
# import, no lookup), as the other threads' locks are copied into it held.
_prctl = _libc_prctl()


def die_with(daemon: int) -> Callable[[], None]:
    """A ``preexec_fn`` that SIGKILLs the child when the daemon (pid ``daemon``) dies.

    The signal comes when the thread that forked ends, so the tools are started from the
    event loop's thread, which lives as long as the daemon. The daemon may die between the
    fork and the prctl: then the child is already some reaper's, and its getppid() is no
    longer ``daemon`` (taken before the fork, not in the child: see fs/hashpool.py)."""

    def tie() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != daemon:
            os._exit(1)

    return tie


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
            preexec_fn=die_with(os.getpid()),  # two syscalls in the child, no lock taken
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
