"""info, why, duplicates, failed and retry through the real mediaforgectl, on real files."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from tests.conftest import Daemon, sha256_of, wait_for

# Root without the capabilities that let it read anything: a mode-000 file fails to index,
# as it would for the service's unprivileged user.
NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def _json(daemon: Daemon, *args: str) -> Any:
    return json.loads(daemon.ctl(*args, "--json").stdout)


def _library(root: Path) -> dict[str, Path]:
    p = {
        "a": root / "a.jpg",
        "copy": root / "copy" / "a.jpg",
        "a_link": root / "a-hardlink.jpg",
        "solo": root / "solo.jpg",
        "solo_link": root / "solo-hardlink.jpg",
        "big1": root / "v" / "big1.mov",
        "big2": root / "v" / "big2.mov",
        "big3": root / "big3.mov",
        "hidden": root / ".hidden.jpg",
        "part": root / "download.part",
        "raw": root / "shot.raw",
        "private": root / "Private" / "x.jpg",
        "symlink": root / "link.jpg",
        "noread": root / "noread.jpg",
    }
    (root / "copy").mkdir()
    (root / "v").mkdir()
    (root / "Private").mkdir()
    (root / "Private" / ".mediaforgeignore").write_bytes(b"")
    photo = b"\xff\xd8\xff\xe0" + b"A" * 96
    p["a"].write_bytes(photo)
    p["copy"].write_bytes(photo)
    os.link(p["a"], p["a_link"])
    p["solo"].write_bytes(b"\xff\xd8\xff\xe0 solo")
    os.link(p["solo"], p["solo_link"])
    movie = b"\x00\x00\x00\x18ftypqt  " + b"M" * 4988
    for key in ("big1", "big2", "big3"):
        p[key].write_bytes(movie)
    for key in ("hidden", "part", "raw", "private"):
        p[key].write_bytes(b"\xff\xd8\xff\xe0 " + key.encode())
    p["symlink"].symlink_to(p["a"])
    p["noread"].write_bytes(b"\xff\xd8\xff\xe0 secret")
    p["noread"].chmod(0)
    return p


def test_why_info_duplicates_failed_retry(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    p = _library(library)
    daemon = daemon_factory(
        [library],
        settle_seconds=60.0,  # a new file stays "settling" for the whole test
        root_options={str(library): {"exclude": ["*.raw"]}},
    )
    daemon.wrapper = NO_DAC
    daemon.start()
    daemon.wait_idle()

    def why(key: str | Path) -> dict[str, Any]:
        path = p[key] if isinstance(key, str) else key
        data: dict[str, Any] = _json(daemon, "why", str(path))
        return data

    assert why("a")["reason"] == "catalogued" and why("a")["catalogued"] is True
    assert why("hidden")["reason"] == "excluded" and why("hidden")["rule"] == ".*"
    assert why("part")["rule"] == "*.part"
    assert why("raw")["rule"] == "*.raw"  # the root's own exclude list
    assert why(library / ".git" / "x.jpg")["rule"] == ".*"  # a folder on the way
    ignored = why("private")
    assert ignored["reason"] == "ignored" and str(library / "Private") in ignored["message"]
    link = why("symlink")
    assert link["reason"] == "not_regular" and "symbolic link" in link["message"]
    assert "folder" in why(library / "copy")["message"]
    assert why(library / "nothing.jpg")["reason"] == "not_found"
    outside = why(Path("/etc/hostname"))
    assert outside["reason"] == "outside" and str(library) in outside["message"]
    noread = why("noread")
    assert noread["reason"] == "failed" and "permission_denied" in noread["message"]
    fresh = library / "fresh.jpg"
    # Still open for writing: it settles until closed (a file closed after writing is
    # indexed within a second, whatever settle_seconds says).
    with fresh.open("wb") as held:
        held.write(b"\xff\xd8\xff\xe0 fresh")
        held.flush()
        wait_for(lambda: why(fresh)["reason"] == "settling", what="the new file to be settling")
    human = daemon.ctl("why", str(p["hidden"])).stdout
    assert "excluded" in human and "'.*'" in human

    # info: by path and by id, with tags and the other copies.
    daemon.ctl("tag", "add", "cover", str(p["a"]))
    info = _json(daemon, "info", str(p["a"]))
    item = info["item"]
    assert item["path"] == str(p["a"]) and item["file_hash"] == sha256_of(p["a"])
    assert item["size"] == 100 and item["status"] == "present" and item["media_type"] == "image"
    assert item["created_at"].endswith("Z")
    assert info["tags"] == ["cover"]
    assert set(info["same_content"]) == {str(p["copy"]), str(p["a_link"])}
    assert _json(daemon, "info", str(item["id"]))["item"]["path"] == str(p["a"])
    human = daemon.ctl("info", str(p["a"])).stdout
    assert f"item {item['id']}" in human and "cover" in human and str(p["copy"]) in human
    unknown = daemon.ctl("info", str(p["hidden"]), check=False)
    assert unknown.returncode == 1 and "[not_found]" in unknown.stderr

    # duplicates: the movies waste most; hard links are one copy.
    dups = _json(daemon, "duplicates")
    assert dups["groups"] == 2 and dups["wasted_bytes"] == 2 * 5000 + 100
    movies, photos = dups["duplicates"]
    assert (movies["copies"], movies["wasted_bytes"], movies["size"]) == (3, 10000, 5000)
    assert {i["path"] for i in movies["items"]} == {str(p[k]) for k in ("big1", "big2", "big3")}
    assert (photos["copies"], photos["wasted_bytes"]) == (2, 100)
    assert len(photos["items"]) == 3  # listed with the hard link, which costs nothing
    assert _json(daemon, "duplicates", "--min-size", "1000")["groups"] == 1
    human = daemon.ctl("duplicates").stdout
    assert "2 groups (2 exact, 0 same-content, 0 near), 10.1 kB wasted" in human
    assert "3 copies, 10.0 kB wasted" in human

    # failed, then retry once the file is readable.
    # (The fake JPEGs fail at the metadata stage too: tests/system/test_failures.py.)
    failed = _json(daemon, "failed", "--stage", "index")
    assert failed["total"] == 1 and failed["by_code"] == {"permission_denied": 1}
    assert failed["items"][0]["path"] == str(p["noread"])
    assert failed["items"][0]["stage"] == "index"
    assert "permission_denied" in daemon.ctl("failed", "--stage", "index").stdout
    retry = daemon.ctl("retry", "--stage", "index", "--json", check=False)
    assert retry.returncode == 1  # still failing
    still = json.loads(retry.stdout)
    assert (still["retried"], still["still_failed"], still["fixed"]) == (1, 1, 0)
    assert still["by_stage"]["index"] == {"retried": 1, "still_failed": 1}
    p["noread"].chmod(0o644)
    fixed = _json(daemon, "retry", "--stage", "index", str(p["noread"]))
    assert (fixed["still_failed"], fixed["errors"]) == (0, [])
    assert daemon.catalog.item(p["noread"])["status"] == "present"
    assert "0 files failed" in daemon.ctl("failed", "--stage", "index").stderr
    assert daemon.stop() == 0


def test_info_shows_when_taken_in_the_local_time_with_its_offset(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    def photo(path: Path, taken: str, offset: str = "") -> None:
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
        if offset:
            exif.get_ifd(0x8769)[0x9011] = offset  # OffsetTimeOriginal
        Image.new("RGB", (64, 48), "green").save(path, exif=exif)

    photo(library / "berlin.jpg", "2021:06:01 12:00:00", "+02:00")
    photo(library / "somewhere.jpg", "2021:06:01 12:00:00")  # an older camera: no offset
    clip = library / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:d=1",
         "-metadata", "creation_time=2021-06-01T10:00:00Z", str(clip)],
        check=True,
        timeout=60,
    )  # fmt: skip
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    wait_for(
        lambda: (
            len(daemon.catalog.query("SELECT * FROM media_metadata WHERE taken_at IS NOT NULL"))
            == 3
        ),
        what="the three dates taken",
    )

    def taken(path: Path) -> Any:
        info = _json(daemon, "info", str(path))
        assert info["item"]["created_at"].endswith("Z")  # the daemon's own times are UTC
        return info["metadata"]["taken_at"], info["metadata"].get("taken_offset")

    assert taken(library / "berlin.jpg") == ("2021-06-01T12:00:00+02:00", "+02:00")
    assert taken(library / "somewhere.jpg") == ("2021-06-01T12:00:00", None)  # not UTC
    assert taken(clip) == ("2021-06-01T10:00:00+00:00", "+00:00")  # videos record UTC

    def shown(path: Path) -> str:
        """The "taken at" line of `mediaforgectl info` (label, then its value)."""
        lines = daemon.ctl("info", str(path)).stdout.splitlines()
        return next(line.split(maxsplit=2)[2] for line in lines if line[2:11] == "taken at ")

    assert shown(library / "berlin.jpg") == "2021-06-01T12:00:00+02:00"
    assert shown(library / "somewhere.jpg") == "2021-06-01T12:00:00"
    assert daemon.stop() == 0
