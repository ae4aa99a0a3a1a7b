"""Journald priorities: under systemd (stderr is $JOURNAL_STREAM) each line starts with <N>."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import structlog

from mediaforged.daemon.logs import configure_logging


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
