"""The Folders and Duplicates pages and the item page's collections, in a real headless
Chromium against a real daemon (the browser fixtures: webpage.py, shared with test_web.py),
checked against `mediaforgectl`: the folder counts, a generated duplicate pair and its wasted
bytes, a collection added in the page. One daemon for the module; screenshots of the pages
go to docs/img/ with MEDIAFORGE_SCREENSHOTS=1."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import wait_for
from tests.system.httpd import Http, http_daemon
from tests.system.webpage import browser, login, new_page, shot

__all__ = ["browser", "new_page"]  # the shared fixtures, used here by name

IMAGES = {  # name: (size, colour); b/one-copy.jpg is a copy of a/one.jpg
    "top.jpg": ((320, 240), (200, 80, 40)),
    "a/one.jpg": ((640, 480), (30, 120, 200)),
    "a/two.jpg": ((400, 300), (20, 160, 60)),
    "a/deep/three.jpg": ((300, 300), (120, 40, 160)),
    "b/four.jpg": ((500, 400), (200, 200, 40)),
}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    lib = tmp_path_factory.mktemp("pages") / "library"
    for name, (size, colour) in IMAGES.items():
        path = lib / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, colour).save(path, quality=90)
    shutil.copyfile(lib / "a/one.jpg", lib / "b/one-copy.jpg")
    with http_daemon([lib]) as h:
        wait_for(
            lambda: (
                h.daemon.catalog.query(
                    "SELECT count(*) AS n FROM media_metadata WHERE thumb_status = 'ok'"
                )[0]["n"]
                >= len(IMAGES) + 1
            ),
            60,
            "the thumbnails",
        )
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
    assert [(f["name"], f["items"]) for f in top["folders"]] == [("a", 3), ("b", 2)]
    assert top["folders"][1]["bytes"] == _size(http, "b/four.jpg", "b/one-copy.jpg")
    with http.client(http.read) as client:
        a = client.get("/api/v1/folders", params={"path": f"{root}/a"}).json()
        assert (a["items"], a["folders"]) == (
            2,
            [{"name": "deep", "path": f"{root}/a/deep", "items": 1,
              "bytes": _size(http, "a/deep/three.jpg")}],
        )  # fmt: skip
        roots = client.get("/api/v1/folders").json()
        assert [(f["path"], f["items"]) for f in roots["folders"]] == [(str(root), 6)]
        outside = client.get("/api/v1/folders", params={"path": "/elsewhere"})
        assert outside.status_code >= 400
        assert outside.json()["error"]["code"] == "not_in_library"
    one = json.loads(http.daemon.ctl("folders", str(root), "--limit", "1", "--json").stdout)
    assert [f["name"] for f in one["folders"]] == ["a"] and one["more"] is True


def test_folders_page_goes_down_up_and_into_the_library(page: Any, http: Http) -> None:
    root = str(http.daemon.roots[0])
    login(page, http, "/folders")
    assert _rows(page) == {root: 6}
    page.click(f"a.folder >> text={json.dumps(root)}")
    page.wait_for_url(re.compile(r"/folders\?path="))
    page.wait_for_selector(".here[data-items='1']")  # top.jpg, directly in the root
    assert _rows(page) == {"a": 3, "b": 2}
    shot(page, "folders.png")
    page.click('a.folder >> text="a"')
    page.wait_for_selector(".here[data-items='2']")
    assert _rows(page) == {"deep": 1}
    crumbs = page.inner_text("nav.crumbs")
    assert "Roots" in crumbs and root in crumbs and crumbs.rstrip().endswith("a")
    page.click(f"nav.crumbs a >> text={json.dumps(root)}")  # the breadcrumb goes back up
    page.wait_for_selector(".here[data-items='1']")
    assert _rows(page) == {"a": 3, "b": 2}
    page.click("tr[data-path$='/a'] >> text=show items")
    page.wait_for_url(re.compile(r"/\?folder="))
    page.wait_for_function("() => document.querySelector('.count')?.dataset.total === '3'")
    assert page.input_value("input[name=folder]") == f"{root}/a"


def test_duplicates_page_lists_the_pair_with_its_wasted_bytes(page: Any, http: Http) -> None:
    login(page, http, "/duplicates")
    page.wait_for_selector(".dup")
    groups = page.eval_on_selector_all(".dup", "els => els.map(e => Number(e.dataset.wasted))")
    assert groups == [_size(http, "a/one.jpg")]
    summary = page.get_attribute(".summary", "data-wasted")
    assert summary == str(_size(http, "a/one.jpg"))
    links = page.eval_on_selector_all(
        ".dup a", "els => els.map(a => [a.textContent, a.getAttribute('href')])"
    )
    root = http.daemon.roots[0]
    ids = {
        r["path"]: r["id"]
        for r in http.daemon.catalog.query(
            "SELECT id, path FROM media_items WHERE name LIKE 'one%'"
        )
    }
    assert sorted(links) == sorted(
        [[str(root / "a/one.jpg"), f"/item/{ids[str(root / 'a/one.jpg')]}"],
         [str(root / "b/one-copy.jpg"), f"/item/{ids[str(root / 'b/one-copy.jpg')]}"]]
    )  # fmt: skip
    page.wait_for_function("() => { const i = document.querySelector('.dup img');"
                           " return i && i.complete && i.naturalWidth > 0 }")  # fmt: skip
    shot(page, "duplicates.png")
    # A copy opens its item page, which links to the other copy.
    page.click(f".dup a >> text={json.dumps(str(root / 'b/one-copy.jpg'))}")
    page.wait_for_url(re.compile(r"/item/\d+$"))
    page.wait_for_selector(".copies a")
    assert page.get_attribute(".copies a", "href") == f"/item/{ids[str(root / 'a/one.jpg')]}"


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
