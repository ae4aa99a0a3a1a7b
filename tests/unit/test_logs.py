"""Journald priorities: under systemd (stderr is $JOURNAL_STREAM) each line starts with <N>."""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

import pytest
import structlog

from mediaforged.daemon.logs import LogStream, configure_logging


def _log_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, journal: str | None) -> list[str]:
    path = tmp_path / "stderr"
    with open(path, "w") as stream:
        st = os.fstat(stream.fileno())
        if journal is None:
            monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        else:
            monkeypatch.setenv("JOURNAL_STREAM", journal)
        monkeypatch.setattr(sys, "stderr", stream)
        try:
            configure_logging("debug", "auto")
            log = structlog.get_logger("test")
            log.debug("indexed", path="/a")
            log.info("ready")
            log.warning("index_failed", path="/b", code="permission_denied")
            log.error("fatal_error")
        finally:
            structlog.reset_defaults()
    return path.read_text().splitlines()


def test_journal_lines_carry_the_syslog_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _log_all(tmp_path, monkeypatch, journal=None)
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>"]
    warning = json.loads(lines[2][3:])
    assert (warning["event"], warning["path"], warning["code"]) == (
        "index_failed",
        "/b",
        "permission_denied",
    )


def test_another_stream_gets_no_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _log_all(tmp_path, monkeypatch, journal="1:2")  # JOURNAL_STREAM of a parent
    assert [json.loads(line)["event"] for line in lines] == [
        "indexed",
        "ready",
        "index_failed",
        "fatal_error",
    ]


def _stream_into(fd: int) -> LogStream:
    """A LogStream on ``fd`` (the stream object is closed here: the stream keeps its own
    descriptor of the pipe, as it does of the daemon's stderr)."""
    with os.fdopen(os.dup(fd), "w") as stderr:
        stream = LogStream(stderr)
    stream.notice = lambda n: json.dumps({"event": "log_lines_dropped", "lines": n})
    return stream


def test_a_full_pipe_drops_lines_and_counts_them() -> None:
    r, w = os.pipe()
    fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ: one page
    stream = _stream_into(w)
    os.close(w)
    try:
        for i in range(200):  # about 30 fit; a blocking write would hang the test here
            stream.line(json.dumps({"event": "e", "i": i, "pad": "x" * 100}))
        assert 150 < stream.dropped < 200
        dropped = stream.dropped
        lines = os.read(r, 65536).decode().splitlines()
        stream.line(json.dumps({"event": "after"}))
        lines += os.read(r, 65536).decode().splitlines()
        events = [json.loads(line) for line in lines]  # whole lines only
        assert [e["i"] for e in events if e["event"] == "e"] == list(range(200 - dropped))
        assert events[-2:] == [{"event": "log_lines_dropped", "lines": dropped}, {"event": "after"}]
        assert stream.dropped == 0
    finally:
        stream.close()
        os.close(r)


def test_a_pipe_without_reader_neither_raises_nor_blocks() -> None:
    r, w = os.pipe()
    stream = _stream_into(w)
    os.close(w)
    os.close(r)  # tee was killed
    try:
        for _ in range(3):
            stream.line('{"event": "signal"}')  # EPIPE: dropped, not raised
        assert stream.dropped == 3
    finally:
        stream.close()
