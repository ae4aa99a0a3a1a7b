"""The pure parts behind issue 14's failures and tables: a stage's failure log (a line per
file, a summary instead of a flood), recent errors that end when the file is indexed, and
paths cut in the middle, never silently."""

from __future__ import annotations

from pathlib import Path

import structlog
from structlog.testing import capture_logs

from mediaforged.cli.client import middle_cut
from mediaforged.cli.tables import _widths
from mediaforged.pipeline.stage import FailureLog
from mediaforged.state import DaemonState


def test_failures_are_warnings_one_a_file_then_a_count() -> None:
    failures = FailureLog(structlog.get_logger("test"), "extract_failed", burst=3)
    with capture_logs() as logs:
        for n in range(10):
            failures.failed(path=f"/m/{n}.mp3", code="corrupt")
        failures.flush()
        failures.flush()  # nothing more to say
    assert [e["log_level"] for e in logs] == ["warning"] * 4
    assert [e.get("path") for e in logs[:3]] == ["/m/0.mp3", "/m/1.mp3", "/m/2.mp3"]
    assert logs[3]["event"] == "extract_failed_more" and logs[3]["count"] == 7


def test_a_new_window_logs_again() -> None:
    failures = FailureLog(structlog.get_logger("test"), "thumbnail_failed", burst=1, window_s=0)
    with capture_logs() as logs:
        for n in range(3):
            failures.failed(path=f"/m/{n}.jpg")
    assert [e.get("path") for e in logs] == ["/m/0.jpg", "/m/1.jpg", "/m/2.jpg"]


def test_recent_errors_end_when_the_file_is_indexed() -> None:
    state = DaemonState(roots=[])
    state.record_error("/m/a.mov", "changed_during_read", "changed while read")
    state.record_error("/m/b.mov", "permission_denied", "no")
    state.forget_error("/m/a.mov")
    assert [e["path"] for e in state.recent_errors] == ["/m/b.mov"]


def test_middle_cut_keeps_the_start_and_the_name() -> None:
    path = "/srv/media/Music/The Beatles/Abbey Road (2019 Remaster)/07 Here Comes The Sun.flac"
    assert middle_cut(path, 200) == path
    for width in (60, 45, 32):
        cut = middle_cut(path, width)
        assert len(cut) == width and "…" in cut
        assert cut.startswith("/srv") and cut.endswith("/07 Here Comes The Sun.flac")
    tiny = middle_cut(path, 12)
    assert len(tiny) == 12 and tiny.startswith("/sr") and tiny.endswith(".flac")
    assert Path(middle_cut("/a/b.jpg", 8)) == Path("/a/b.jpg")


def test_widths_fit_the_room_and_the_path_gives_way_first() -> None:
    columns = [("id", "right"), ("details", "left"), ("path", "left")]
    rows = [["12", "d" * 30, "/p" * 60]]
    assert _widths(columns, rows, -1, 500) == [2, 30, 120]
    narrow = _widths(columns, rows, -1, 80)
    assert sum(narrow) + 2 * 2 == 80 and narrow[1] == 30  # the details stay whole
    tight = _widths(columns, rows, -1, 40)
    assert sum(tight) + 2 * 2 <= 40 and tight[2] >= 8
