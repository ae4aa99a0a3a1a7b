"""The web page in a real headless Chromium (Debian's, through Playwright) against a real daemon
with real JPEGs, an MP3 and an MP4: login, the grid's thumbnails, search and filters in the
URL, a bookmarked view, the item page's metadata, a tag added in the page. One daemon and one
browser for the module (the browser and page fixtures: webpage.py, shared with
test_web_pages.py); screenshots for the README go to docs/img/ with MEDIAFORGE_SCREENSHOTS=1."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from mediaforged.http.web import STATIC
from tests.conftest import wait_for
from tests.system.httpd import Http, http_daemon
from tests.system.webpage import SHOTS, WAIT_MS, browser, login, new_page

__all__ = ["browser", "new_page"]  # the shared fixtures, used here by name

IMAGES = {  # name: (size, colour)
    "beach-01.jpg": ((640, 480), (30, 120, 200)),
    "beach-02.jpg": ((480, 640), (40, 160, 220)),
    "forest.jpg": ((800, 600), (20, 120, 40)),
    "city/night.jpg": ((600, 400), (30, 30, 60)),
    "city/street.jpg": ((500, 500), (160, 140, 120)),
}


def _media(lib: Path) -> None:
    for name, (size, colour) in IMAGES.items():
        path = lib / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, colour).save(path, quality=90)
    ff = ["ffmpeg", "-v", "error", "-y"]
    subprocess.run(
        [*ff, "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-metadata",
         "title=Morning Song", "-metadata", "artist=The Testers", str(lib / "song.mp3")],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [*ff, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=1", "-pix_fmt",
         "yuv420p", "-c:v", "libx264", str(lib / "clip.mp4")],
        check=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    lib = tmp_path_factory.mktemp("web") / "library"
    lib.mkdir()
    _media(lib)
    with http_daemon([lib]) as h:
        wait_for(
            lambda: (
                h.daemon.catalog.query(
                    "SELECT count(*) AS n FROM media_metadata WHERE thumb_status = 'ok'"
                )[0]["n"]
                >= len(IMAGES) + 1  # the images and the video
            ),
            60,
            "the thumbnails",
        )
        yield h


@pytest.fixture
def page(new_page: Any, http: Http) -> Any:
    return new_page


def _login(page: Any, http: Http, path: str = "/") -> None:
    login(page, http, path)


def _tiles(page: Any) -> list[str]:
    page.wait_for_function(
        "() => { const n = document.querySelector('.count')?.dataset.total;"
        " return !!n && document.querySelectorAll('.tile[data-id]').length == Number(n) }"
    )
    names: list[str] = page.eval_on_selector_all(
        ".tile[data-id]", "els => els.map(e => e.getAttribute('title'))"
    )
    return sorted(Path(n).name for n in names)


def _total(page: Any, n: int) -> None:
    """Wait until the grid's search says n items (the page may still be loading)."""
    page.wait_for_function(f"() => document.querySelector('.count')?.dataset.total === '{n}'")


def _present(http: Http) -> int:
    return int(
        http.daemon.catalog.query("SELECT count(*) AS n FROM media_items WHERE status='present'")[
            0
        ]["n"]
    )


def test_the_committed_bundle_is_built_from_web_sources() -> None:
    """The daemon serves the committed build: a change in web/ must come with its rebuild."""
    stale = Path(__file__).resolve().parents[2] / "web" / "stale.py"
    result = subprocess.run([sys.executable, str(stale)], capture_output=True, text=True)
    assert result.returncode == 0, f"{result.stdout.strip()}: run npm ci && npm run build in web/"


def test_the_bundle_is_built_and_served(http: Http) -> None:
    index = (STATIC / "index.html").read_text()
    scripts = re.findall(r'src="/(assets/[^"]+\.js)"', index)
    assert scripts, "mediaforged/http/static/index.html names no script: run npm run build in web/"
    with httpx.Client(base_url=http.base, timeout=60) as client:
        for route in ("/", "/item/1", "/folders?x=1"):
            reply = client.get(route)
            assert reply.status_code == 200, route
            assert reply.text == index
            assert reply.headers["cache-control"] == "no-cache"
        asset = client.get("/" + scripts[0])
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith("text/javascript")
        assert "immutable" in asset.headers["cache-control"]
        assert (
            client.get(
                "/" + scripts[0], headers={"If-None-Match": asset.headers["etag"]}
            ).status_code
            == 304
        )
        # The API's own paths are never the page: an unknown one is the API's 404.
        missing = client.get("/api/v1/nothing-here")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert client.get("/assets/gone-123.js").status_code == 404
        # Who the page is logged in as (the page hides edits from a read token).
        assert client.get("/api/v1/session").status_code == 401
        me = client.get("/api/v1/session", headers={"Authorization": f"Bearer {http.read}"})
        assert me.json() == {"name": "reader", "scope": "read"}


def test_a_bad_token_is_refused_and_a_good_one_logs_in(page: Any, http: Http) -> None:
    page.goto(http.base + "/")
    page.fill("input[name=token]", "not-a-token")
    page.click("button[type=submit]")
    page.wait_for_selector(".login [role=alert]")
    assert "not valid" in page.inner_text(".login [role=alert]")
    page.fill("input[name=token]", http.admin)
    page.click("button[type=submit]")
    page.wait_for_selector(".count[data-total]:not([data-total=''])")
    assert len(_tiles(page)) == _present(http)


def test_grid_search_filters_bookmark_and_item(page: Any, http: Http) -> None:
    _login(page, http)
    assert "#token" not in page.url  # the token left the address bar
    names = _tiles(page)
    assert len(names) == _present(http) == len(IMAGES) + 2
    # Every tile with a thumbnail shows it (decoded: naturalWidth), and says its media type.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.tile img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    shown = page.eval_on_selector_all(".tile img", "els => els.length")
    assert shown == len(IMAGES) + 1  # the MP3 has no picture of its own
    badges = page.eval_on_selector_all(".tile .badge", "els => els.map(e => e.textContent)")
    assert sorted(set(badges)) == ["audio", "image", "video"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "library.png"))
    assert (SHOTS / "library.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The search box narrows the grid and goes into the URL.
    page.fill("input[name=q]", "beach")
    page.wait_for_url(re.compile(r"[?&]q=beach"))
    _total(page, 2)
    assert _tiles(page) == ["beach-01.jpg", "beach-02.jpg"]
    # A filter too: type and sort.
    page.fill("input[name=q]", "")
    page.wait_for_function("() => !location.search.includes('q=')")
    page.select_option("select[name=type]", "video")
    page.wait_for_url(re.compile(r"[?&]type=video"))
    _total(page, 1)
    assert _tiles(page) == ["clip.mp4"]

    # A bookmarked URL restores the view, in a fresh page.
    page.goto(f"{http.base}/?type=image&folder={http.daemon.roots[0]}/city&sort=-size")
    _total(page, 2)
    assert _tiles(page) == ["night.jpg", "street.jpg"]
    assert page.input_value("select[name=type]") == "image"
    assert page.input_value("select[name=sort]") == "-size"
    order = page.eval_on_selector_all(".tile[data-id]", "els => els.map(e => e.title)")
    sizes = [Path(p).stat().st_size for p in order]
    assert sizes == sorted(sizes, reverse=True)  # -size: the largest first

    # The item page: its metadata, and a tag added here is in the catalog.
    page.goto(f"{http.base}/?q=forest")
    _total(page, 1)
    page.click(".tile[data-id]")
    page.wait_for_url(re.compile(r"/item/\d+$"))
    page.wait_for_selector("table.meta")
    table = _table(page)
    assert table["Width"] == "800" and table["Height"] == "600"
    assert table["Type"] == "image (image/jpeg)"
    page.wait_for_function(
        "() => { const i = document.querySelector('img.preview');"
        " return i && i.naturalWidth === 800 }"
    )
    page.fill("input[name=tag]", "holiday")
    page.click(".tags button[type=submit]")
    page.wait_for_selector(".chip >> text=holiday")
    page.screenshot(path=str(SHOTS / "item.png"))
    listed = json.loads(http.daemon.ctl("tag", "list", "--json").stdout)
    assert {"tag": "holiday", "items": 1} in listed["tags"], listed


def test_item_page_plays_the_video_and_shows_its_metadata(page: Any, http: Http) -> None:
    row = http.daemon.catalog.query("SELECT id FROM media_items WHERE name = 'clip.mp4'")[0]
    _login(page, http, f"/item/{row['id']}")
    page.wait_for_selector("table.meta")
    table = _table(page)
    assert table["Video codec"] == "h264"
    assert table["Width"] == "320"
    # Chromium from Debian plays H.264; where a build cannot, the page says so instead.
    playable = page.evaluate("() => document.createElement('video').canPlayType('video/mp4')")
    if playable:
        page.eval_on_selector("video.preview", "v => { v.muted = true; return v.play() }")
        page.wait_for_function("() => document.querySelector('video.preview').currentTime > 0.2")
    else:
        assert "cannot play" in page.inner_text(".cannot")


def test_a_read_token_sees_no_edit_controls(page: Any, http: Http) -> None:
    row = http.daemon.catalog.query("SELECT id FROM media_items WHERE name = 'forest.jpg'")[0]
    page.goto(f"{http.base}/item/{row['id']}#token={http.read}")
    page.wait_for_selector("table.meta")
    assert page.query_selector("input[name=tag]") is None
    assert "(read)" in page.inner_text(".who")


def _table(page: Any) -> dict[str, str]:
    rows = page.eval_on_selector_all(
        "table.meta tr", "rs => rs.map(r => [r.cells[0].textContent, r.cells[1].textContent])"
    )
    return dict(rows)


def test_a_large_library_is_windowed_and_paged(browser: Any, tmp_path: Path) -> None:
    """More items than one keyset page (300): the DOM holds only the rows in view, and
    scrolling to the end fetches the pages after, each item once."""
    lib = tmp_path / "big"
    lib.mkdir()
    for i in range(700):
        Image.new("RGB", (8, 8), (i % 256, 0, 0)).save(lib / f"n{i:04d}.jpg")
    with http_daemon([lib], thumbnail_size=0) as h:
        context = browser.new_context(viewport={"width": 1000, "height": 700})
        context.set_default_timeout(WAIT_MS)
        pg = context.new_page()
        try:
            _login(pg, h)
            _total(pg, 700)
            pg.wait_for_selector(".tile[data-id]")
            drawn = pg.eval_on_selector_all(".tile", "els => els.length")
            assert 0 < drawn < 150, drawn  # a few rows, not 700 tiles
            seen: set[str] = set()
            for _ in range(200):  # scroll down a screen at a time, collecting the tiles drawn
                seen.update(
                    pg.eval_on_selector_all(".tile[data-id]", "els => els.map(e => e.title)")
                )
                if len(seen) == 700:
                    break
                pg.eval_on_selector(".grid", "g => { g.scrollTop += g.clientHeight }")
                pg.wait_for_function(
                    "() => !document.querySelector('.tile.placeholder')"
                    " || document.querySelector('.grid').scrollTop === 0"
                )
            assert len(seen) == 700
            assert pg.eval_on_selector_all(".tile", "els => els.length") < 150
        finally:
            context.close()
