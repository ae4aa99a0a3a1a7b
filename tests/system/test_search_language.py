"""The search language on a real daemon over real tagged files: each construct against what the
files are, accents in NFC and NFD names, and the word index following renames, deletes and tag
changes. One daemon for the module."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mediaforged.cli.main import Client, CommandFailed
from mediaforged.protocol import ErrorCode
from tests.conftest import Daemon, wait_for
from tests.searchcheck import index_drift

NFD_NAME = unicodedata.normalize("NFD", "Déjà vu.flac")


def _photo(path: Path, size: tuple[int, int], make: str, model: str, taken: str) -> None:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model  # Make, Model
    exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    Image.new("RGB", size, "green").save(path, exif=exif)


def _ffmpeg(path: Path, seconds: float, **tags: str) -> None:
    metadata = [a for k, v in tags.items() for a in ("-metadata", f"{k}={v}")]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=d={seconds}", *metadata, str(path)],
        check=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    work = Path(tempfile.mkdtemp(prefix="mf", dir="/tmp"))  # short: the socket's path
    library = work / "library"
    (library / "Music").mkdir(parents=True)
    (library / "Photos" / "Summer").mkdir(parents=True)
    music = library / "Music"
    _ffmpeg(music / "come together.mp3", 3, artist="The Beatles", album="Abbey Road",
            title="Come Together", date="1969", genre="Rock")  # fmt: skip
    _ffmpeg(music / "let it be.flac", 2, artist="The Beatles", album="Let It Be",
            title="Let It Be", date="1970", genre="Rock")  # fmt: skip
    _ffmpeg(music / "Café del Mar.mp3", 1, artist="José González", title="Heartbeats",
            date="2003", genre="Folk")  # fmt: skip
    _ffmpeg(music / NFD_NAME, 2, artist="Crosby", title="Almost Cut My Hair", date="1970")
    _photo(library / "Photos" / "Summer" / "beach.jpg", (1920, 1080), "Canon", "EOS R6",
           "2021:06:14 10:00:00")  # fmt: skip
    _photo(library / "Photos" / "cat.jpg", (320, 240), "Apple", "iPhone 13",
           "2023:01:02 23:30:00")  # fmt: skip
    daemon = Daemon(work, [library])
    daemon.library = library  # type: ignore[attr-defined]
    try:
        daemon.start()
        daemon.wait_idle()
        wait_for(
            lambda: len(daemon.catalog.query(
                "SELECT 1 FROM media_metadata WHERE extracted_at IS NOT NULL")) == 6
            and daemon.status()["pending"]["metadata"] == 0,
            what="the metadata of all six files",
        )  # fmt: skip
        daemon.call("tag.add", {"tag": "holiday", "paths": [str(library / "Photos/cat.jpg")]})
        daemon.call("collection.create", {"name": "Best of"})
        daemon.call("collection.add", {"name": "Best of", "paths": [str(music / "let it be.flac")]})
        yield daemon
        assert daemon.stop() == 0
    finally:
        daemon.close()
        shutil.rmtree(work, ignore_errors=True)


def _names(daemon: Daemon, q: str, **more: Any) -> list[str]:
    reply = daemon.call("search", {"q": q, "limit": 1000, **more})
    return [unicodedata.normalize("NFC", Path(i["path"]).name) for i in reply["items"]]


CAFE, DEJA = "Café del Mar.mp3", unicodedata.normalize("NFC", NFD_NAME)
COME, LET, BEACH, CAT = "come together.mp3", "let it be.flac", "beach.jpg", "cat.jpg"
ALL = sorted([CAFE, DEJA, COME, LET, BEACH, CAT])

# query -> the files it finds, sorted by name (sort:name).
CASES: dict[str, list[str]] = {
    "": ALL,
    "beatles": [COME, LET],  # the artist
    "BEATLES abbey": [COME],  # any case, both words
    "cafe": [CAFE],  # the accent ignored (name and nothing else: the artist is José)
    "café": [CAFE],
    unicodedata.normalize("NFD", "café"): [CAFE],  # the query in NFD
    "deja": [DEJA],  # an NFD name on disk
    "jose gonzalez": [CAFE],
    '"come together"': [COME],
    '"together come"': [],  # a phrase is in that order
    "heart*": [CAFE],  # a prefix
    "summer": [BEACH],  # the folder inside the root
    "canon": [BEACH],  # the camera
    "holiday": [CAT],  # a tag
    "best": [LET],  # a collection
    "beatles -abbey": [LET],
    "beatles OR crosby": [DEJA, COME, LET],
    "(abbey OR crosby) rock": [COME],
    "artist:beatles": [COME, LET],
    "artist:beat": [COME, LET],  # a field's words are prefixes
    'artist:"the beatles"': [COME, LET],
    "artist:=Crosby": [DEJA],
    "-artist:beatles type:audio": [CAFE, DEJA],  # items without it are kept
    "title:/^Let/": [LET],
    "album:road": [COME],
    "genre:rock": [COME, LET],
    "camera:iphone": [CAT],
    "type:image": [BEACH, CAT],
    "ext:flac": [DEJA, LET],
    "tag:holiday": [CAT],
    "-tag:holiday type:image": [BEACH],
    "collection:best": [LET],
    "folder:summer": [BEACH],
    "year:1970": [DEJA, LET],
    "year:1965..1969": [COME],
    "year:>=2000": [CAFE],
    "width:>=1920": [BEACH],
    "height:<1000": [CAT],
    "duration:>2.5": [COME],
    "duration:1s..2s": [CAFE, DEJA, LET],
    "size:>1MB": [],
    "size:<1MB type:image": [BEACH, CAT],
    "taken:2021-06": [BEACH],
    "taken:2021": [BEACH],
    "taken:>2021": [CAT],
    "taken:2021-06-14..2023-01-02": [BEACH, CAT],
    "added:<1d": ALL,
    "added:>1d": [],
    "modified:<1d": ALL,
    "status:present": ALL,
    "status:missing": [],
    "beatles year:1970 ext:flac": [LET],
}


def test_each_construct_finds_what_the_files_are(daemon: Daemon) -> None:
    wrong = {}
    for q, expected in CASES.items():
        found = sorted(_names(daemon, q + " sort:name"), key=str)
        if found != sorted(expected, key=str):
            wrong[q] = found
    assert wrong == {}


def test_sort_in_the_query_and_the_older_filters_combine(daemon: Daemon) -> None:
    assert _names(daemon, "artist:beatles sort:-duration") == [COME, LET]
    assert _names(daemon, "artist:beatles sort:duration") == [LET, COME]
    assert _names(daemon, "type:audio", artist="beatles", year=1970) == [LET]
    # The socket's name for the query text is `query`; q and query together: both.
    reply = daemon.call("search", {"query": "beatles", "q": "rock", "limit": 100})
    assert reply["total"] == 2


def test_paging_and_streaming_with_a_query(daemon: Daemon) -> None:
    first = daemon.call("search", {"q": "type:audio sort:name", "limit": 2})
    assert first["total"] == 4
    second = daemon.call("search", {"q": "type:audio sort:name", "limit": 2,
                                    "cursor": first["next_cursor"]})  # fmt: skip
    names = [Path(i["path"]).name for i in first["items"] + second["items"]]
    assert len(set(names)) == 4
    out = daemon.ctl("search", "type:audio", "year:1970", "--json").stdout
    assert sorted(Path(json.loads(line)["path"]).name for line in out.splitlines()) == [
        NFD_NAME, LET
    ]  # fmt: skip


def test_a_typo_is_a_clean_error_with_its_position(daemon: Daemon) -> None:
    bad = daemon.ctl("search", "year:1965..x", check=False)
    assert bad.returncode == 2
    assert "at 12" in bad.stderr and "expected a number" in bad.stderr
    unknown = daemon.ctl("search", "colour:red", check=False)
    assert "unknown field 'colour'" in unknown.stderr and "artist" in unknown.stderr


def test_explain_shows_the_reading_and_the_plan(daemon: Daemon) -> None:
    out = daemon.ctl("search", "--explain", "beatles", "year:1965..1970").stdout
    assert "read as: (word 'beatles' AND year >= 1965 AND year <= 1970)" in out
    assert "search_fts" in out  # the word index is in the SQL and the plan
    assert "VIRTUAL TABLE INDEX" in out
    assert "matches: 2" in out


def _indexed(daemon: Daemon, word: str) -> int:
    return len(daemon.catalog.query("SELECT rowid FROM search_fts WHERE search_fts MATCH ?", word))


def test_the_index_follows_renames_deletes_and_tag_changes(daemon: Daemon) -> None:
    library: Path = daemon.library  # type: ignore[attr-defined]
    cat = library / "Photos" / "cat.jpg"
    daemon.call("tag.add", {"tag": "zebra", "paths": [str(cat)]})
    assert _names(daemon, "zebra") == [CAT]
    daemon.call("tag.remove", {"tag": "zebra", "paths": [str(cat)]})
    assert _names(daemon, "zebra") == []
    moved = library / "Photos" / "kitten.jpg"
    cat.rename(moved)
    wait_for(lambda: _names(daemon, "kitten") == ["kitten.jpg"], what="the rename found")
    assert _names(daemon, "cat") == []
    assert _names(daemon, "holiday") == ["kitten.jpg"]  # its tag went with it
    (library / "Music" / "come together.mp3").unlink()
    wait_for(lambda: _names(daemon, "abbey") == [], what="the deleted file gone from results")
    # Missing items keep their row (and their words) for the grace period, status apart.
    assert _names(daemon, "abbey status:missing") == [COME]
    # Whatever happened, the index holds one row per item and passes its own check.
    check = sqlite3.connect(daemon.state_dir / "catalog.db", timeout=30)
    try:  # raises if the index and its rows disagree (a command, though it writes nothing)
        check.execute("INSERT INTO search_fts(search_fts) VALUES('integrity-check')")
    finally:
        check.close()
    rows = daemon.catalog.query("SELECT count(*) AS n FROM search_fts")[0]["n"]
    assert rows == daemon.catalog.query("SELECT count(*) AS n FROM media_items")[0]["n"]
    assert _indexed(daemon, "kitten") == 1 and _indexed(daemon, "cat") == 0


def test_pages_walked_along_an_index_match_the_sorted_whole(daemon: Daemon) -> None:
    """A page of one among few items walks the sort's index (many matches for the page);
    all of them at once are sorted: both orders, through keyset cursors, are the same."""
    for sort in ("path", "-path", "size", "-size", "added", "-added"):
        q = f"type:audio sort:{sort}"
        whole = daemon.call("search", {"q": q, "limit": 1000, "status": "any"})
        assert whole["total_exact"] is True
        paged: list[str] = []
        cursor = None
        while True:
            args = {"q": q, "limit": 1, "status": "any", "exact_count": True}
            page = daemon.call("search", {**args, **({"cursor": cursor} if cursor else {})})
            paged += [i["path"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert paged == [i["path"] for i in whole["items"]], sort
        assert len(paged) == whole["total"] >= 3
    one = {"q": "type:audio sort:-size", "limit": 1, "status": "any", "explain": True}
    walked = daemon.call("search", one)["explain"]["plan"]
    assert any("ix_media_items_size" in line for line in walked), walked
    sorted_ = daemon.call("search", {**one, "limit": 1000})["explain"]["plan"]
    assert any("TEMP B-TREE FOR ORDER BY" in line for line in sorted_), sorted_


def _checks(daemon: Daemon) -> dict[str, dict[str, str]]:
    run = daemon.ctl("doctor", "--json", check=False, timeout=120)
    return {c["check"]: c for c in json.loads(run.stdout)["checks"]}


def test_doctor_finds_a_drifted_index_and_reindex_search_mends_it(daemon: Daemon) -> None:
    assert _checks(daemon)["search"]["status"] == "pass"
    beach = daemon.catalog.query("SELECT id FROM media_items WHERE name = ?", BEACH)[0]["id"]
    db = sqlite3.connect(daemon.state_dir / "catalog.db", timeout=30)
    try:  # a row lost behind the writer's back
        db.execute("DELETE FROM search_fts WHERE rowid = ?", (beach,))
        db.commit()
    finally:
        db.close()
    assert _names(daemon, "canon") == []
    found = _checks(daemon)["search"]
    assert found["status"] == "fail" and "rows for" in found["detail"], found
    assert "reindex-search" in found["fix"]
    out = daemon.ctl("reindex-search").stdout
    assert "search index rebuilt" in out
    assert _names(daemon, "canon") == [BEACH]
    assert _checks(daemon)["search"]["status"] == "pass"
    assert index_drift(daemon.state_dir / "catalog.db") == []


# Pieces of queries, good and bad, that hypothesis strings together.
_PIECES = ["beatles", "cafe", '"come', 'together"', "heart*", "*", "-", "(", ")", "OR", "AND",
           "artist:", "year:1965..1970", "year:..", "size:>2GB", "duration:1:30", "taken:2021-13",
           "added:<7d", "title:/^L/", "title:/(/", "sort:-taken", "sort:bogus", "ext:.flac",
           "folder:/", "status:any", "type:x", "%", "_", "😀", "é", "東京", ":", '"',
           "\\"]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=6)), max_size=8),
    st.sampled_from(["", " "]),
)
def test_random_queries_give_results_or_a_clean_parse_error(
    daemon: Daemon, pieces: list[str], glue: str
) -> None:
    client = Client(daemon.socket, timeout=60)
    failed: CommandFailed | None = None
    try:
        reply = client.call("search", {"q": glue.join(pieces), "limit": 5})
        assert reply["total"] >= len(reply["items"])
    except CommandFailed as exc:  # only a clean error about the query, never an internal one
        failed = exc
    finally:
        client.close()
    if failed is not None:
        assert failed.code == ErrorCode.BAD_REQUEST, failed
        assert str(failed).startswith("query, at "), failed


def test_the_index_equals_the_catalog_after_random_adds_renames_and_deletes(
    daemon: Daemon,
) -> None:
    library: Path = daemon.library  # type: ignore[attr-defined]
    rng = random.Random(16)
    folder = library / "Random"
    folder.mkdir()
    files: list[Path] = []
    for n in range(40):
        what = rng.choice(["add", "add", "rename", "delete"]) if files else "add"
        if what == "add":
            files.append(folder / f"{rng.choice(['Zürich', 'nuit', 'ß_%'])} {n}.txt")
            files[-1].write_bytes(b"x" * n)
        elif what == "rename":
            old = files.pop(rng.randrange(len(files)))
            files.append(rng.choice([folder, library / "Photos"]) / f"renamed {n}.txt")
            old.rename(files[-1])
        else:
            files.pop(rng.randrange(len(files))).unlink()
    wanted = sorted(str(f) for f in files)
    wait_for(
        lambda: sorted(i["path"] for i in daemon.call(
            "search", {"q": "ext:txt", "limit": 1000})["items"]) == wanted,
        what="the random changes catalogued",
    )  # fmt: skip
    assert index_drift(daemon.state_dir / "catalog.db") == []
    assert len(_names(daemon, "renamed")) == sum("renamed" in f.name for f in files)
