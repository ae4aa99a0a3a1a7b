"""Metrics (issue 15): one daemon for the module, scraped on its token-free ``metrics_listen``
address and through ``mediaforgectl metrics``. Every series the README lists is there from
the start, at zero; the counts move as files come; an inotify queue overflow moves the
overflow series (issue 13, item 7); no label ever holds a path."""

from __future__ import annotations

import http.client
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Daemon, wait_for
from tests.rawclient import RawClient

README = Path(__file__).resolve().parents[2] / "README.md"
Families = dict[str, Any]


def documented() -> list[str]:
    """The series the README's Metrics table lists."""
    section = README.read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"^\| `(mediaforge_[a-z_*]+)` \|", section, flags=re.MULTILINE)
    assert len(names) > 30, "the README's Metrics table was not found"
    return names


def families(text: str) -> Families:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: Families, series: str, **labels: str) -> float:
    """The sample called ``series`` with exactly ``labels``."""
    found = [
        s.value for f in fams.values() for s in f.samples if s.name == series and s.labels == labels
    ]
    assert len(found) == 1, f"{series}{labels}: {len(found)} samples"
    return float(found[0])


class Scraper:
    def __init__(self, daemon: Daemon) -> None:
        event = wait_for(
            lambda: next(
                (e for e in daemon.log_events() if e.get("event") == "metrics_listening"), None
            ),
            what="metrics_listening in the log",
        )
        host, _, port = event["address"].rpartition(":")
        self.host, self.port = host, int(port)

    def get(self, path: str = "/metrics", method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path)  # no Authorization header: none is needed here
            reply = conn.getresponse()
            return reply.status, dict(reply.getheaders()), reply.read()
        finally:
            conn.close()

    def __call__(self) -> Families:
        status, _, body = self.get()
        assert status == 200
        return families(body.decode())


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    work = Path(tempfile.mkdtemp(prefix="mf", dir="/tmp"))
    library = work / "lib" / "Photos"
    library.mkdir(parents=True)
    # The quick check is far away: the overflow's own catch-up must find the dropped files.
    d = Daemon(work, [library], metrics_listen="127.0.0.1:0", quick_reconcile_interval=3600)
    d.measure = False  # thousands of files below: coverage tracing would slow the catch-up
    d.start()
    d.wait_idle()
    yield d
    assert d.stop() == 0
    d.close()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def scrape(daemon: Daemon) -> Scraper:
    return Scraper(daemon)


def test_every_documented_series_is_there_at_zero_at_start(scrape: Scraper) -> None:
    fams = scrape()
    names = set(fams)
    for series in documented():
        if series.endswith("*"):
            assert any(n.startswith(series[:-1]) for n in names), series
        else:
            assert series.removesuffix("_total") in names, f"{series} is not served"
    assert all(n.startswith("mediaforge_") for n in names)
    # An empty library: nothing counted yet, every labelled series there at zero.
    for status in ("present", "missing", "failed"):
        for media_type in ("image", "audio", "video", "other"):
            labels = {"root": "Photos", "media_type": media_type, "status": status}
            assert value(fams, "mediaforge_items", **labels) == 0
    for series in ("files_indexed", "files_hashed", "hashed_bytes", "index_failures"):
        assert value(fams, f"mediaforge_{series}_total") == 0
    assert value(fams, "mediaforge_watch_overflows_total", root="Photos") == 0
    errors = fams["mediaforge_errors"].samples
    assert {(s.labels["stage"], s.labels["code"]) for s in errors} >= {
        ("index", "permission_denied"),
        ("metadata", "corrupt"),
        ("thumbnail", "no_frame"),
        ("reconcile", "unreadable_dir"),
    }
    assert all(s.value == 0 for s in errors)
    assert value(fams, "mediaforge_extract_duration_seconds_count", media_type="video") == 0
    assert value(fams, "mediaforge_queue_depth", stage="settle") == 0
    assert value(fams, "mediaforge_root_watch_state", root="Photos", state="inotify") == 1
    assert value(fams, "mediaforge_root_watch_mode", root="Photos", mode="poll") == 0
    assert value(fams, "mediaforge_inotify_watches") >= 1
    assert value(fams, "mediaforge_event_subscribers") == 0
    assert value(fams, "mediaforge_event_subscriber_lag_max") == 0


def test_metrics_listen_answers_without_a_token(scrape: Scraper) -> None:
    status, headers, body = scrape.get()
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    assert int(headers["Content-Length"]) == len(body)
    assert "mediaforge_items" in families(body.decode())
    assert scrape.get("/")[0] == 404
    assert scrape.get("/api/v1/status")[0] == 404
    assert scrape.get(method="POST")[0] == 405
    status, _, body = scrape.get(method="HEAD")
    assert (status, body) == (200, b"")


def _jpeg(path: Path, shade: int) -> int:
    Image.new("RGB", (16, 16), (shade, 64, 128)).save(path, "JPEG")
    return path.stat().st_size


def test_counts_move_as_files_are_added(daemon: Daemon, scrape: Scraper) -> None:
    library = daemon.roots[0]
    before = scrape()
    sizes = sum(_jpeg(library / f"p{i}.jpg", i * 20) for i in range(5))
    (library / "notes.txt").write_bytes(b"not a picture")

    def counted() -> Families | None:
        fams = scrape()
        items = value(fams, "mediaforge_items", root="Photos", media_type="image", status="present")
        return fams if items == 5 else None

    fams = wait_for(counted, timeout=60, what="5 images in mediaforge_items")
    daemon.wait_idle()
    assert value(fams, "mediaforge_catalogued_bytes", root="Photos", media_type="image") == sizes
    for series in ("files_indexed", "files_hashed"):
        grew = value(fams, f"mediaforge_{series}_total") - value(
            before, f"mediaforge_{series}_total"
        )
        assert grew >= 6, series
    hashed = value(fams, "mediaforge_hashed_bytes_total") - value(
        before, "mediaforge_hashed_bytes_total"
    )
    assert hashed >= sizes + len(b"not a picture")
    assert value(fams, "mediaforge_event_log_cursor") >= 6

    def extracted() -> Families | None:
        fams = scrape()
        done = value(fams, "mediaforge_extract_duration_seconds_count", media_type="image")
        made = value(fams, "mediaforge_thumbnail_duration_seconds_count", media_type="image")
        return fams if done == 5 and made == 5 else None

    fams = wait_for(extracted, timeout=60, what="the metadata and thumbnails of 5 images")
    assert value(fams, "mediaforge_thumbnails_total", outcome="made") == 5
    assert value(fams, "mediaforge_queue_depth", stage="metadata") == 0


def test_no_label_holds_a_path(daemon: Daemon, scrape: Scraper) -> None:
    # A file of its own: the names of the library must be known, and counted, for the check.
    mine = daemon.roots[0] / "label-check.txt"
    mine.write_bytes(b"a name that must not become a label")
    wait_for(lambda: daemon.catalog.item(mine), what="label-check.txt catalogued")
    fams = scrape()
    names = {p.name for p in daemon.roots[0].iterdir()}
    assert "label-check.txt" in names
    labels = {(k, v) for f in fams.values() for s in f.samples for k, v in s.labels.items()}
    assert labels
    for key, text in labels:
        assert "/" not in text, (key, text)
        assert text not in names, (key, text)
    assert {v for k, v in labels if k == "root"} == {"Photos"}


def test_mediaforgectl_metrics_prints_the_same_series(daemon: Daemon, scrape: Scraper) -> None:
    daemon.ctl("status")  # a request to count
    printed = families(daemon.ctl("metrics").stdout)
    assert set(printed) == set(scrape())
    status = value(
        printed, "mediaforge_control_request_duration_seconds_count",
        transport="socket", command="status",
    )  # fmt: skip
    assert status >= 1
    raw = RawClient(daemon.socket)
    try:
        raw.write(b'{"id": 1, "cmd": "no_such_command"}\n')
        assert raw.read()["error"]["code"] == "unknown_command"
    finally:
        raw.close()
    fams = scrape()
    assert (
        value(fams, "mediaforge_control_errors_total", transport="socket", code="unknown_command")
        >= 1
    )
    assert value(
        fams, "mediaforge_control_request_duration_seconds_count",
        transport="socket", command="other",
    ) >= 1  # fmt: skip


def test_a_follower_is_a_subscriber(daemon: Daemon, scrape: Scraper) -> None:
    raw = RawClient(daemon.socket)
    try:
        raw.write(b'{"id": 1, "cmd": "events", "args": {"follow": true}}\n')
        fams = wait_for(
            lambda: (f := scrape()) and value(f, "mediaforge_event_subscribers") == 1 and f,
            what="the follower counted",
        )
        assert value(fams, "mediaforge_event_subscriber_lag", subscriber="0") == 0
    finally:
        raw.close()
    # The server learns that a follower left when it next sends it an event.
    (daemon.roots[0] / "after-follower.txt").write_bytes(b"an event")
    wait_for(lambda: value(scrape(), "mediaforge_event_subscribers") == 0, what="the follower gone")


def _queue_size() -> int:
    with open("/proc/sys/fs/inotify/max_queued_events", encoding="ascii") as f:
        return int(f.read())


def test_an_overflow_moves_the_overflow_series(daemon: Daemon, scrape: Scraper) -> None:
    queue = _queue_size()
    if queue > 65536:
        pytest.skip(f"max_queued_events is {queue}: too many files to overflow it here")
    library = daemon.roots[0]
    many = library / "many"
    many.mkdir()
    wait_for(lambda: daemon.status()["roots"][0]["watch_folders"] >= 2, what="many/ watched")
    daemon.wait_idle()
    before = len(daemon.catalog.items())
    reconciles = _reconciles(scrape())
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGSTOP)
    try:
        # Three events per file (create, modify, close_write): half the queue's size in
        # files overflows it by half (as tests/system/test_watch_events.py does).
        for i in range(queue // 2):
            (many / f"f{i:06d}.jpg").write_bytes(b"%06d" % i)
    finally:
        daemon.proc.send_signal(signal.SIGCONT)
    made = before + queue // 2
    wait_for(lambda: len(daemon.catalog.items()) == made, timeout=120, what="every file made")
    fams = scrape()
    overflows = value(fams, "mediaforge_watch_overflows_total", root="Photos")
    assert overflows >= 1
    assert overflows == daemon.status()["roots"][0]["overflows"]
    assert _reconciles(fams) > reconciles  # the catch-up is timed too


def _reconciles(fams: Families) -> float:
    return sum(
        value(fams, "mediaforge_reconcile_duration_seconds_count", root="Photos", scope=scope)
        for scope in ("full", "quick", "partial")
    )


def test_a_taken_address_is_one_log_line(daemon: Daemon, scrape: Scraper, short_tmp: Path) -> None:
    library = short_tmp / "lib"
    library.mkdir()
    other = Daemon(short_tmp, [library], watch=False, metrics_listen=f"127.0.0.1:{scrape.port}")
    other.start()
    try:
        failed = wait_for(
            lambda: [e for e in other.log_events() if e.get("event") == "metrics_listen_failed"],
            what="metrics_listen_failed",
        )
        assert len(failed) == 1
        assert failed[0]["address"] == f"127.0.0.1:{scrape.port}"
        assert "in use" in failed[0]["error"]
        assert other.status()["state"] in ("scanning", "idle")  # the daemon goes on
        assert sum(e.get("level") == "error" for e in other.log_events()) == 1
        assert "mediaforge_items" in families(other.ctl("metrics").stdout)
    finally:
        assert other.stop() == 0
        other.close()
