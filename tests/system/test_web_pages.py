"""The Folders and Duplicates pages and the item page's collections and waveform, in a real
headless Chromium against a real daemon (the browser fixtures: webpage.py, shared with
test_web.py), checked against `mediaforgectl`: the folder counts, generated copies in each
duplicate tier with the copy to keep, a merge, a collection added in the page, an audio
file's waveform. One daemon for the module; screenshots of the pages go to docs/img/ with
MEDIAFORGE_SCREENSHOTS=1."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, PngImagePlugin

from tests.conftest import wait_for
from tests.system.httpd import Http, http_daemon
from tests.system.webpage import browser, login, new_page, shot

__all__ = ["browser", "new_page"]  # the shared fixtures, used here by name

IMAGES = {  # name: size; each its own picture (flat colours would all look alike: near)
    "top.jpg": (320, 240),
    "a/one.jpg": (640, 480),
    "a/two.jpg": (400, 300),
    "a/deep/three.jpg": (300, 300),
    "b/four.jpg": (500, 400),
    "more/pic.png": (300, 200),
}
# The tiers: b/one-copy.jpg is a copy of a/one.jpg (exact); more/pic-tagged.png holds the
# pixels of more/pic.png with a text chunk (same content); more/one-small.jpg is a/one.jpg
# at half its size (near). more/tone.flac has a waveform.
COPIES = ("b/one-copy.jpg", "more/pic-tagged.png", "more/one-small.jpg")
AUDIO = "more/tone.flac"


def _picture(path: Path, size: tuple[int, int]) -> None:
    rng = random.Random(path.name)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(12):
        x, y = rng.randrange(w), rng.randrange(h)
        box = (x, y, x + rng.randrange(w // 8, w // 2), y + rng.randrange(h // 8, h // 2))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    img.save(path, quality=90)


def _library(lib: Path) -> None:
    for name, size in IMAGES.items():
        (lib / name).parent.mkdir(parents=True, exist_ok=True)
        _picture(lib / name, size)
    shutil.copyfile(lib / "a/one.jpg", lib / "b/one-copy.jpg")
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "the same pixels, other bytes")
    with Image.open(lib / "more/pic.png") as img:
        img.save(lib / "more/pic-tagged.png", pnginfo=info)
    with Image.open(lib / "a/one.jpg") as img:
        img.resize((320, 240), Image.Resampling.LANCZOS).save(lib / "more/one-small.jpg")
    tone = "0.8*sin(2*PI*440*t)*abs(sin(2*PI*0.4*t))"  # a swelling tone: peaks to see
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"aevalsrc='{tone}':s=44100:d=5",
         str(lib / AUDIO)],
        check=True, timeout=120,
    )  # fmt: skip


def _count(http: Http, sql: str) -> int:
    return int(http.daemon.catalog.query(f"SELECT count(*) AS n FROM {sql}")[0]["n"])


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    lib = tmp_path_factory.mktemp("pages") / "library"
    _library(lib)
    with http_daemon([lib]) as h:
        pictures = len(IMAGES) + len(COPIES)
        wait_for(
            lambda: _count(h, "media_metadata WHERE thumb_status = 'ok'") >= pictures,
            60,
            "the thumbnails",
        )
        # Every distinct content signed (the duplicate tiers, the waveform): the last stage.
        # The exact copy shares its original's content; the audio file is one more.
        contents = pictures - 1 + 1
        wait_for(lambda: _count(h, "signatures") >= contents, 120, "the signatures")
        yield h


@pytest.fixture
def page(new_page: Any, http: Http) -> Any:
    return new_page


def _size(http: Http, *names: str) -> int:
    return sum((http.daemon.roots[0] / n).stat().st_size for n in names)


def _rows(page: Any) -> dict[str, int]:
    """The folder table: each row's name and its item count."""
    page.wait_for_selector("table.folders tbody tr")
    pairs = page.eval_on_selector_all(
        "table.folders tbody tr[data-path]",
        "rs => rs.map(r => [r.querySelector('a.folder').textContent,"
        " Number(r.querySelector('[data-items]').dataset.items)])",
    )
    return dict(pairs)


def test_the_folders_command_counts_each_folder(http: Http) -> None:
    root = http.daemon.roots[0]
    top = json.loads(http.daemon.ctl("folders", str(root), "--json").stdout)
    assert top["path"] == str(root) and top["root"] == str(root)
    assert (top["items"], top["bytes"]) == (1, _size(http, "top.jpg"))
    assert [(f["name"], f["items"]) for f in top["folders"]] == [("a", 3), ("b", 2), ("more", 4)]
    assert top["folders"][1]["bytes"] == _size(http, "b/four.jpg", "b/one-copy.jpg")
    with http.client(http.read) as client:
        a = client.get("/api/v1/folders", params={"path": f"{root}/a"}).json()
        assert (a["items"], a["folders"]) == (
            2,
            [{"name": "deep", "path": f"{root}/a/deep", "items": 1,
              "bytes": _size(http, "a/deep/three.jpg")}],
        )  # fmt: skip
        roots = client.get("/api/v1/folders").json()
        assert [(f["path"], f["items"]) for f in roots["folders"]] == [(str(root), 10)]
        outside = client.get("/api/v1/folders", params={"path": "/elsewhere"})
        assert outside.status_code >= 400
        assert outside.json()["error"]["code"] == "not_in_library"
    one = json.loads(http.daemon.ctl("folders", str(root), "--limit", "1", "--json").stdout)
    assert [f["name"] for f in one["folders"]] == ["a"] and one["more"] is True


def test_folders_page_goes_down_up_and_into_the_library(page: Any, http: Http) -> None:
    root = str(http.daemon.roots[0])
    login(page, http, "/folders")
    assert _rows(page) == {root: 10}
    page.click(f"a.folder >> text={json.dumps(root)}")
    page.wait_for_url(re.compile(r"/folders\?path="))
    page.wait_for_selector(".here[data-items='1']")  # top.jpg, directly in the root
    assert _rows(page) == {"a": 3, "b": 2, "more": 4}
    shot(page, "folders.png")
    page.click('a.folder >> text="a"')
    page.wait_for_selector(".here[data-items='2']")
    assert _rows(page) == {"deep": 1}
    crumbs = page.inner_text("nav.crumbs")
    assert "Roots" in crumbs and root in crumbs and crumbs.rstrip().endswith("a")
    page.click(f"nav.crumbs a >> text={json.dumps(root)}")  # the breadcrumb goes back up
    page.wait_for_selector(".here[data-items='1']")
    assert _rows(page) == {"a": 3, "b": 2, "more": 4}
    page.click("tr[data-path$='/a'] >> text=show items")
    page.wait_for_url(re.compile(r"/\?folder="))
    page.wait_for_function("() => document.querySelector('.count')?.dataset.total === '3'")
    assert page.input_value("input[name=folder]") == f"{root}/a"


def _ids(http: Http) -> dict[str, int]:
    """Each item's id by its path under the root."""
    root = http.daemon.roots[0]
    rows = http.daemon.catalog.query("SELECT id, path FROM media_items")
    return {str(Path(r["path"]).relative_to(root)): r["id"] for r in rows}


def _groups(page: Any) -> list[dict[str, Any]]:
    return list(
        page.eval_on_selector_all(
            ".dup",
            "els => els.map(e => ({ id: e.dataset.group, tier: e.dataset.tier,"
            " wasted: Number(e.dataset.wasted), keep: Number(e.dataset.keep),"
            " label: e.querySelector('.tier').textContent,"
            " why: e.querySelector('.keep-why').textContent,"
            " items: [...e.querySelectorAll('li[data-id]')].map(li => Number(li.dataset.id)) }))",
        )
    )


def test_duplicates_page_shows_the_tiers_and_the_copy_to_keep(page: Any, http: Http) -> None:
    listed = json.loads(http.daemon.ctl("duplicates", "--json").stdout)
    ids = _ids(http)
    login(page, http, "/duplicates")
    page.wait_for_selector(".dup")
    shown = _groups(page)
    # The page shows the daemon's groups, tier by tier, each with the copy to keep and why.
    assert [(g["id"], g["tier"], g["wasted"], g["keep"]) for g in shown] == [
        (g["id"], g["tier"], g["wasted_bytes"], g["keep"]) for g in listed["duplicates"]
    ]
    tiers = {g["tier"]: set(g["items"]) for g in shown}
    assert set(tiers) == {"exact", "same-content", "near"}
    assert tiers["exact"] == {ids["a/one.jpg"], ids["b/one-copy.jpg"]}
    assert tiers["same-content"] == {ids["more/pic.png"], ids["more/pic-tagged.png"]}
    assert ids["more/one-small.jpg"] in tiers["near"] and ids["a/one.jpg"] in tiers["near"]
    assert [g["label"] for g in shown] == ["Exact", "Same content", "Near"]
    exact = next(g for g in listed["duplicates"] if g["tier"] == "exact")
    assert shown[0]["wasted"] == _size(http, "a/one.jpg") == exact["wasted_bytes"]
    near = next(g for g in listed["duplicates"] if g["tier"] == "near")
    assert near["keep"] == ids["a/one.jpg"] or near["keep"] == ids["b/one-copy.jpg"]
    assert shown[2]["why"].endswith(f": {near['keep_reason']}")  # the larger picture
    page.wait_for_function("() => { const i = document.querySelector('.dup img');"
                           " return i && i.complete && i.naturalWidth > 0 }")  # fmt: skip
    shot(page, "duplicates.png")
    # One tier: GET /duplicates?tier=near, bookmarkable.
    page.click("nav.tiers button[data-tier=near]")
    page.wait_for_url(re.compile(r"/duplicates\?tier=near$"))
    only_near = "ds.length && ds.every(d => d.dataset.tier === 'near')"
    page.wait_for_function(
        f"() => {{ const ds = [...document.querySelectorAll('.dup')]; return {only_near} }}"
    )
    assert [g["id"] for g in _groups(page)] == [near["id"]]
    # A copy opens its item page, which links to the other copy.
    page.click("nav.tiers button[data-tier=exact]")
    page.wait_for_selector(".dup[data-tier=exact]")
    page.click(f".dup .copies-list a[href='/item/{ids['b/one-copy.jpg']}']")
    page.wait_for_url(re.compile(r"/item/\d+$"))
    page.wait_for_selector(".copies a")
    assert page.get_attribute(".copies a", "href") == f"/item/{ids['a/one.jpg']}"


def _tags(http: Http, item: int) -> list[str]:
    tags: list[str] = json.loads(http.daemon.ctl("info", str(item), "--json").stdout)["tags"]
    return tags


def test_merge_moves_the_other_copys_tags_to_the_kept_one(page: Any, http: Http) -> None:
    group = json.loads(http.daemon.ctl("duplicates", "--tier", "same-content", "--json").stdout)
    group = group["duplicates"][0]
    keep = group["keep"]
    other = next(i["id"] for i in group["items"] if i["id"] != keep)
    http.daemon.ctl("tag", "add", "to-move", "--id", str(other))
    assert _tags(http, other) == ["to-move"] and _tags(http, keep) == []
    login(page, http, "/duplicates?tier=same-content")
    row = f".dup[data-group='{group['id']}']"
    page.wait_for_selector(row)
    assert page.is_checked(f"{row} input[type=radio][value='{keep}']")  # the suggestion
    page.click(f"{row} button.merge")
    page.wait_for_selector(f"{row} .merged")
    assert "1 tag and 0 collections moved from 1 other copy" in page.inner_text(f"{row} .merged")
    assert _tags(http, keep) == ["to-move"]
    assert _tags(http, other) == []
    assert all(Path(i["path"]).exists() for i in group["items"])  # no file is deleted


def test_a_collection_added_in_the_page_is_seen_by_mediaforgectl(page: Any, http: Http) -> None:
    path = http.daemon.roots[0] / "top.jpg"
    row = http.daemon.catalog.query("SELECT id FROM media_items WHERE name = 'top.jpg'")[0]
    login(page, http, f"/item/{row['id']}")
    page.wait_for_selector(".history li[data-kind=added]")  # its history: the change log
    page.fill("input[name=collection]", "Best of 2024")  # a new collection: created on the way
    page.click(".collections button[type=submit]")
    page.wait_for_selector(".collections .chip >> text=Best of 2024")
    listed = json.loads(http.daemon.ctl("collection", "list", "--json").stdout)
    assert [(c["collection"], c["items"]) for c in listed["collections"]] == [("Best of 2024", 1)]
    shown = json.loads(http.daemon.ctl("collection", "show", "Best of 2024", "--json").stdout)
    assert [i["path"] for i in shown["items"]] == [str(path)]
    page.click("button[aria-label='Remove collection Best of 2024']")
    page.wait_for_selector(".collections .none")
    shown = json.loads(http.daemon.ctl("collection", "show", "Best of 2024", "--json").stdout)
    assert shown["total"] == 0


def test_a_read_token_sees_the_collections_but_cannot_change_them(page: Any, http: Http) -> None:
    row = http.daemon.catalog.query("SELECT id FROM media_items WHERE name = 'two.jpg'")[0]
    http.daemon.ctl("collection", "create", "Kept")
    http.daemon.ctl("collection", "add", "Kept", "--id", str(row["id"]))
    login(page, http, f"/item/{row['id']}", token=http.read)
    page.wait_for_selector(".collections .chip >> text=Kept")
    assert page.query_selector("input[name=collection]") is None
    assert page.query_selector(".collections button") is None
    assert Path(page.url).name == str(row["id"])
    page.click("a[href='/duplicates']")
    page.wait_for_selector(".dup .keep-why")
    assert page.query_selector("button.merge") is None
    assert page.query_selector(".dup input[type=radio]") is None


def test_an_audio_items_waveform_is_drawn_with_the_play_position(page: Any, http: Http) -> None:
    item = _ids(http)[AUDIO]
    with http.client(http.read) as client:
        peaks = client.get(f"/api/v1/items/{item}/waveform").json()["peaks"]
    login(page, http, f"/item/{item}")
    wave = page.wait_for_selector("svg.waveform[role=img]")
    assert wave.get_attribute("data-peaks") == str(len(peaks)) != "0"
    assert (wave.get_attribute("aria-label") or "").startswith("Waveform of tone.flac, 0:05 long")
    strokes = page.eval_on_selector("svg.waveform path.wave", "p => p.getAttribute('d')")
    assert strokes.count("M") == len(peaks)
    box = wave.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 50  # drawn, in view
    assert wave.get_attribute("data-position") == "0.0000"
    playable = page.evaluate("() => document.createElement('audio').canPlayType('audio/flac')")
    if playable:  # Debian's Chromium plays FLAC: the position follows the player
        page.eval_on_selector("audio.preview", "a => { a.muted = true; return a.play() }")
        page.wait_for_function(
            "() => Number(document.querySelector('svg.waveform').dataset.position) > 0.1"
        )
        page.eval_on_selector("audio.preview", "a => a.pause()")
        x = float(page.get_attribute("svg.waveform line.cursor", "x1") or 0)
        assert x > 0.1 * len(peaks)
    shot(page, "item-audio.png")
