"""The live parts of the web page in headless Chromium against a real daemon: a file copied into
the library appears in the open grid (the events WebSocket, no reload); the Status page, whose
buttons only an admin token sees, shows a rescan's progress, and its pause, resume and retry
have the effect `mediaforgectl status` reports; a notify target (a webhook no server answers)
is shown with the health `mediaforgectl targets` reports. One daemon and one browser for the
module; screenshots of the Status page go to docs/img/ with MEDIAFORGE_SCREENSHOTS=1."""

from __future__ import annotations

import json
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import wait_for
from tests.system.httpd import Http, http_daemon
from tests.system.webpage import SHOTS, browser, open_page

__all__ = ["browser"]  # the fixture, for pytest

IMAGES = {  # name: colour
    "red.jpg": (200, 30, 30),
    "green.jpg": (30, 160, 60),
    "trips/blue.jpg": (30, 60, 200),
}
BROKEN = "broken.jpg"  # a JPEG's first bytes, then nothing that decodes: its reads fail


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    lib = tmp_path_factory.mktemp("live") / "library"
    (lib / "trips").mkdir(parents=True)
    for name, colour in IMAGES.items():
        Image.new("RGB", (320, 240), colour).save(lib / name, quality=85)
    (lib / BROKEN).write_bytes(b"\xff\xd8\xff\xe0" + b"not a picture" * 50)
    with socket.socket() as s:  # a port nothing listens on: the webhook's requests fail
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = {"name": "hook", "kind": "webhook", "url": f"http://127.0.0.1:{port}/hook",
            "token": "a-secret", "debounce": 0.2}  # fmt: skip
    with http_daemon([lib], targets=[hook]) as h:
        wait_for(lambda: _thumbs(h) >= len(IMAGES), 60, "the thumbnails")
        wait_for(lambda: h.daemon.status()["errors"]["failed_items"] >= 1, 60, "the broken file")
        yield h


def _thumbs(http: Http) -> int:
    rows = http.daemon.catalog.query(
        "SELECT count(*) AS n FROM media_metadata WHERE thumb_status = 'ok'"
    )
    return int(rows[0]["n"])


def _ctl_status(http: Http) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(http.daemon.ctl("status", "--json").stdout)
    return data


def _login(page: Any, http: Http, token: str, path: str) -> None:
    page.goto(f"{http.base}{path}#token={token}")
    page.wait_for_selector(".who")


def _status_page(page: Any, http: Http, token: str) -> None:
    _login(page, http, token, "/status")
    page.wait_for_selector(f"li.root[data-path='{http.daemon.roots[0]}']")


def _button(page: Any, label: str) -> Any:
    return page.locator(f"button[aria-label='{label}']")


def _copy_in(http: Http, name: str) -> Path:
    """A new JPEG copied into the library (made outside it first, as a user's copy is)."""
    source = Path(http.daemon.workdir) / name
    Image.new("RGB", (320, 240), (240, 200, 20)).save(source, quality=85)
    copy = http.daemon.roots[0] / "trips" / name
    shutil.copyfile(source, copy)
    return copy


def _tile_with_thumbnail(page: Any, path: Path) -> None:
    """Listed, then with its thumbnail (made after the item: the grid looks again)."""
    page.wait_for_selector(f".tile[title='{path}'] img")
    page.wait_for_function(
        f"() => document.querySelector(\".tile[title='{path}'] img\").naturalWidth > 0"
    )


def test_a_file_copied_in_appears_in_the_open_grid(browser: Any, http: Http) -> None:
    """Live through the events socket, without a reload; after the socket drops, the page
    connects again from the last event it had and so gets what happened in between."""
    sockets: list[Any] = []
    urls: list[str] = []
    missed: list[Path] = []

    def route(ws: Any) -> None:
        urls.append(ws.url)
        if len(urls) == 2:  # a change while the page is cut off, before it is back
            missed.append(_copy_in(http, "while-away.jpg"))
            wait_for(lambda: _event(http, missed[0]), 60, "the event of the missed file")
        sockets.append(ws)
        ws.connect_to_server()

    with open_page(browser) as page:
        page.route_web_socket(re.compile(r"/api/v1/events"), route)
        _login(page, http, http.admin, "/")
        before = http.daemon.status()["roots"][0]["items"]
        page.wait_for_function(
            f"() => document.querySelectorAll('.tile[data-id]').length === {before}"
        )
        page.evaluate("() => { window.notReloaded = true }")
        first = _copy_in(http, "new-arrival.jpg")
        _tile_with_thumbnail(page, first)
        assert page.evaluate("() => window.notReloaded") is True
        assert page.eval_on_selector(".count", "e => e.dataset.total") == str(before + 1)
        assert "since=" not in urls[0]  # the first connection follows from now

        sockets[0].close(code=1012, reason="restarting")
        page.wait_for_function("() => document.querySelector(\".tile[title$='while-away.jpg']\")")
        assert urls[1].endswith(f"since={_event(http, first)}"), urls
        _tile_with_thumbnail(page, missed[0])
        assert page.evaluate("() => window.notReloaded") is True


def _event(http: Http, path: Path) -> int | None:
    """The cursor of the event that added ``path``."""
    rows = http.daemon.catalog.query(
        "SELECT max(id) AS id FROM events WHERE kind = 'added' AND path = ?", str(path)
    )
    return rows[0]["id"] if rows else None


def test_a_read_token_sees_no_changing_controls(browser: Any, http: Http) -> None:
    with open_page(browser) as page:
        _status_page(page, http, http.read)
        page.wait_for_selector(f"li.failed-file[data-path$='{BROKEN}']")
        assert page.locator("button", has_text="Pause").count() == 0
        assert page.locator("button", has_text="Retry").count() == 0
        assert page.locator("button", has_text="Rescan").count() == 0
    with open_page(browser) as page:
        _status_page(page, http, http.admin)
        page.wait_for_selector(f"li.failed-file[data-path$='{BROKEN}']")
        assert _button(page, "Pause indexing of every root").count() == 1
        assert _button(page, f"Pause {http.daemon.roots[0]}").count() == 1
        assert page.locator("button", has_text="Retry").count() >= 1
        unnamed = page.eval_on_selector_all(
            "button",
            "bs => bs.filter(b => !(b.getAttribute('aria-label') || b.textContent.trim())).length",
        )
        assert unnamed == 0


def test_pause_resume_and_a_rescans_progress(browser: Any, http: Http) -> None:
    root = str(http.daemon.roots[0])
    with open_page(browser) as page:
        _status_page(page, http, http.admin)
        # Pause the root: a rescan then waits for it, shown as a job that has not begun.
        _button(page, f"Pause {root}").click()
        wait_for(lambda: http.daemon.status()["roots"][0]["paused"], 30, "the root paused")
        assert _ctl_status(http)["roots"][0]["paused"] is True
        page.wait_for_selector(f"li.root[data-path='{root}'][data-health='paused']")
        job = _rescan_in_page(page, http, root)
        row = f"li.job[data-job='{job['job']}']"
        page.wait_for_selector(f"{row}[data-complete='false']")
        assert "waiting" in page.inner_text(row)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "status.png"), full_page=True)
        # Resume: the job runs to its end, and the page shows the files it looked at.
        _button(page, f"Resume {root}").click()
        page.wait_for_selector(f"{row}[data-complete='true']")
        files = len(list(Path(root).rglob("*.jpg")))
        assert int(page.get_attribute(row, "data-walked")) == files
        assert "done: " in page.inner_text(row)
        page.wait_for_selector(".notice >> text=Rescan done")
        assert _ctl_status(http)["roots"][0]["paused"] is False

        # Cancel: a waiting rescan is cancelled, and the page says so.
        _button(page, f"Pause {root}").click()
        page.wait_for_selector(f"li.root[data-path='{root}'][data-health='paused']")
        job = _rescan_in_page(page, http, root)
        _button(page, f"Cancel rescan job {job['job']}").click()
        page.wait_for_selector(f"li.job[data-job='{job['job']}'] >> text=cancelled")
        page.wait_for_selector(".notice.error >> text=cancelled")
        jobs = {j["job"]: j for j in _ctl_status(http)["jobs"]}
        assert jobs[job["job"]]["cancelled"] is True
        _button(page, f"Resume {root}").click()
        page.wait_for_selector(f"li.root[data-path='{root}'][data-health='ok']")

        # Pause all, and resume all.
        _button(page, "Pause indexing of every root").click()
        wait_for(lambda: http.daemon.status()["state"] == "paused", 30, "the daemon paused")
        assert _ctl_status(http)["state"] == "paused"
        page.wait_for_selector(".status[data-state='paused']")
        _button(page, "Resume indexing of every root").click()
        wait_for(lambda: http.daemon.status()["state"] != "paused", 30, "the daemon resumed")
        assert _ctl_status(http)["state"] != "paused"


def _rescan_in_page(page: Any, http: Http, root: str) -> dict[str, Any]:
    """Press the root's Rescan: the new job, once the daemon has it."""
    seen = {j["job"] for j in http.daemon.status()["jobs"]}
    _button(page, f"Rescan {root}").click()
    job: dict[str, Any] = wait_for(
        lambda: next(
            (j for j in http.daemon.status()["jobs"] if j["kind"] == "rescan"
             and j["job"] not in seen),
            None,
        ),
        30,
        "the rescan job",
    )  # fmt: skip
    return job


def test_retry_in_the_page_runs_the_failed_stage_again(browser: Any, http: Http) -> None:
    broken = str(http.daemon.roots[0] / BROKEN)
    # A rescan asks failed extractions again too: wait until the stages are done with them.
    wait_for(
        lambda: all(http.daemon.status()[s]["idle"] for s in ("metadata", "thumbnails")),
        60,
        "the metadata and thumbnail stages idle",
    )
    before = _ctl_status(http)
    tries = before["metadata"]["failed"] + before["thumbnails"]["failed"]
    with open_page(browser) as page:
        _status_page(page, http, http.admin)
        row = page.locator(f"li.failed-file[data-path='{broken}']").first
        stage = row.get_attribute("data-stage")
        row.locator("button", has_text="Retry").click()
        page.wait_for_selector(".notice >> text=Retried 1")
        after = _ctl_status(http)
        # The stage ran again (and failed again: the file is still broken).
        assert after["metadata"]["failed"] + after["thumbnails"]["failed"] == tries + 1, stage
        assert after["errors"]["failed_items"] == before["errors"]["failed_items"]


def test_the_status_page_fits_a_phone(browser: Any, http: Http) -> None:
    with open_page(browser, width=390, height=844) as page:
        _status_page(page, http, http.admin)
        page.wait_for_selector("li.job")
        overflow = page.evaluate(
            "() => Math.max(...[document.documentElement, document.querySelector('.status')]"
            ".map(e => e.scrollWidth - e.clientWidth))"
        )
        assert overflow <= 0, f"{overflow}px wider than the phone's screen"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "status-phone.png"), full_page=True)


def test_the_status_page_shows_the_notify_targets(browser: Any, http: Http) -> None:
    def ctl() -> dict[str, Any]:
        targets = json.loads(http.daemon.ctl("targets", "--json").stdout)["targets"]
        assert [t["name"] for t in targets] == ["hook"]
        return dict(targets[0])

    with open_page(browser) as page:
        _status_page(page, http, http.read)
        row = page.wait_for_selector("li.target[data-name=hook]")
        assert row is not None and "webhook" in row.inner_text()
        # The page polls every few seconds: it comes to show what the daemon reports.
        wait_for(
            lambda: (
                page.get_attribute("li.target", "data-state") == ctl()["state"]
                and page.get_attribute("li.target", "data-lag") == str(ctl()["lag"])
            ),
            60,
            "the page showing the target's state and lag",
        )
        assert page.inner_text("li.target .pill") == ctl()["state"]
