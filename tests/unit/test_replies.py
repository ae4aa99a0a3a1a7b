"""The replies in protocol/replies.py are what the daemon sends: every key, no more, no
fewer; and the states are StrEnums whose JSON is their plain value."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typing_extensions

from mediaforged import protocol
from mediaforged.protocol import (
    ItemStatus,
    JobKind,
    Phase,
    WatchMode,
    WatchState,
    encode,
    watch_state,
)
from mediaforged.state import DaemonState, Job, RootState
from tests.conftest import Daemon


def _shape_errors(value: Any, kind: Any, where: str = "reply") -> list[str]:
    """Where ``value`` has keys other than those the TypedDict ``kind`` declares (nested
    TypedDicts and lists of them too), or lacks a required one."""
    if typing_extensions.is_typeddict(kind):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        declared = kind.__required_keys__ | kind.__optional_keys__
        errors = [f"{where}: undeclared key {k!r}" for k in sorted(set(value) - declared)]
        errors += [f"{where}: no {k!r}" for k in sorted(kind.__required_keys__ - set(value))]
        hints = typing.get_type_hints(kind)
        for key in sorted(set(value) & declared):
            errors += _shape_errors(value[key], hints[key], f"{where}.{key}")
        return errors
    origin = typing.get_origin(kind)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(kind)
        return [e for i, v in enumerate(value) for e in _shape_errors(v, item, f"{where}[{i}]")]
    if origin in (typing.Union, types.UnionType):
        nested = [k for k in typing.get_args(kind) if typing_extensions.is_typeddict(k)]
        assert not nested, f"{where}: a union holding a TypedDict is not checked here"
    return []


def test_the_checker_sees_a_missing_and_an_extra_key() -> None:
    job = Job(JobKind.RESCAN, RootState(1, Path("/lib"), b"/lib"), b"/lib").progress()
    assert _shape_errors({"jobs": [job], "errors": []}, protocol.RescanReply) == []
    del job["gone"]
    extra = {**job, "surprise": 1}
    assert _shape_errors({"cancelled": [job, extra]}, protocol.CancelReply) == [
        "reply.cancelled[0]: no 'gone'",
        "reply.cancelled[1]: undeclared key 'surprise'",
        "reply.cancelled[1]: no 'gone'",
    ]


def test_states_are_their_plain_value_in_json() -> None:
    values = {
        "state": Phase.WATCHING,
        "watch_mode": WatchMode.POLL,
        "watch": WatchState.INOTIFY,
        "kind": JobKind.WATCH_DIR,
        "by_status": {ItemStatus.MISSING: 2},
    }
    plain = {
        "state": "watching",
        "watch_mode": "poll",
        "watch": "inotify",
        "kind": "watch-dir",
        "by_status": {"missing": 2},
    }
    assert encode(values) == encode(plain)
    assert json.dumps(values) == json.dumps(plain)
    assert f"{Phase.SCANNING}; {JobKind.WATCH_ERROR}" == "scanning; watch-error"
    assert str(WatchState.POLL) == "poll" and WatchState.POLL == "poll"


def test_a_failed_watch_is_shown_with_its_reason() -> None:
    root = RootState(1, Path("/lib"), b"/lib")
    assert root.watch_shown == "off"
    root.watch, root.watch_error = WatchState.FAILED, "OSError: gone"
    assert root.watch_shown == "failed: OSError: gone"
    assert watch_state(root.watch_shown) is WatchState.FAILED
    root.watch = WatchState.POLL
    assert root.watch_shown == "poll"
    assert watch_state("inotify") is WatchState.INOTIFY
    assert watch_state("sideways") is None


def test_job_progress_and_recent_errors_have_the_declared_keys() -> None:
    root = RootState(1, Path("/lib"), b"/lib")
    job = Job(JobKind.CONFIRM, root, b"/lib")
    job.finish_walk()
    assert _shape_errors(job.progress(), protocol.JobProgress) == []
    assert job.progress()["kind"] == "confirm" and job.progress()["complete"] is True
    state = DaemonState([root])
    state.record_error("/lib/a.jpg", "permission_denied", "no")
    assert _shape_errors(state.recent_errors[0], protocol.RecentError) == []


def test_real_replies_have_exactly_the_declared_keys(
    daemon_factory: Callable[..., Daemon], library: Path, short_tmp: Path
) -> None:
    (library / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"a" * 64)
    (library / "b.flac").write_bytes(b"fLaC" + b"b" * 64)
    gone = short_tmp / "unplugged"  # offline, its watch failed: the "failed: why" form
    daemon = daemon_factory([library, gone]).start()
    daemon.wait_idle()

    rescan = daemon.call("rescan", {"path": str(library)})
    assert _shape_errors(rescan, protocol.RescanReply) == []
    status = daemon.status()
    assert status["jobs"], "the finished jobs stay in status: their shape is checked too"
    assert _shape_errors(status, protocol.StatusReply) == []
    assert status["state"] in set(Phase)
    assert {j["kind"] for j in status["jobs"]} <= set(JobKind)
    roots = {r["path"]: r for r in status["roots"]}
    assert roots[str(library)]["watch"] == WatchState.INOTIFY
    assert watch_state(roots[str(gone)]["watch"]) is WatchState.FAILED
    assert roots[str(gone)]["watch"].startswith("failed: ")
    assert roots[str(library)]["by_status"] == {ItemStatus.PRESENT: 2}

    replies: list[tuple[str, dict[str, Any], Any]] = [
        ("pause", {"root": str(library)}, protocol.PauseReply),
        ("resume", {"root": str(library)}, protocol.ResumeReply),
        ("pause", {}, protocol.PauseReply),
        ("resume", {}, protocol.ResumeReply),
        ("confirm", {"root": str(library)}, protocol.ConfirmReply),
        ("cancel", {}, protocol.CancelReply),
        ("reload", {}, protocol.ReloadReply),
        ("ping", {}, protocol.PingReply),
        ("metrics", {}, protocol.MetricsReply),
        ("hello", {}, protocol.HelloReply),
    ]
    for cmd, args, kind in replies:
        assert _shape_errors(daemon.call(cmd, args), kind, cmd) == []
    assert daemon.stop() == 0
