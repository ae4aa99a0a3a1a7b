"""Duplicate tiers on real transformations made here: each copy lands in its tier, a burst and
unrelated files in none; the copy to keep; merge; similar; status's pending signatures.

One daemon for the module; the false-positive counts over hundreds of files are in
bench/bench_similar.py.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import wait_for
from tests.system.httpd import Http, http_daemon


def _ff(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def _melody(dest: Path, base: int, step: int, rate: int, seed: int) -> None:
    tone = f"0.4*sin(2*PI*({base}+{step}*floor(mod(t*{rate},5)))*t)"
    _ff("-f", "lavfi", "-i", f"aevalsrc='{tone}':s=44100:d=12",
        "-f", "lavfi", "-i", f"anoisesrc=d=12:c=pink:seed={seed}:a=0.05",
        "-filter_complex", "amix=inputs=2", "-ac", "2", str(dest))  # fmt: skip


def _library(lib: Path, scratch: Path) -> None:
    (lib / "photos").mkdir(parents=True)
    (lib / "music").mkdir()
    (lib / "video").mkdir()
    # A burst: three frames of one generated video, 1/25 s apart, encoded alike.
    _ff("-f", "lavfi", "-i", "testsrc2=s=640x480:r=25", "-t", "2.2", "-q:v", "2",
        str(scratch / "f_%03d.jpg"))  # fmt: skip
    base = scratch / "f_050.jpg"
    shutil.copy(base, lib / "photos" / "photo.jpg")
    for n in (51, 53):
        shutil.copy(scratch / f"f_{n:03d}.jpg", lib / "photos" / f"burst_{n}.jpg")
    with Image.open(base) as opened:
        img = opened.convert("RGB")
        w, h = img.size
        img.resize((w // 2, h // 2), Image.Resampling.LANCZOS).save(
            lib / "photos" / "resized.jpg", quality=90
        )
        img.save(lib / "photos" / "recompressed.jpg", quality=55)
        img.save(lib / "photos" / "converted.png")
        img.save(lib / "photos" / "converted.webp", quality=80)
        dx, dy = w * 5 // 200, h * 5 // 200
        img.crop((dx, dy, w - dx, h - dy)).save(lib / "photos" / "cropped.jpg", quality=90)
        # Rotated in its pixels, turned back by its EXIF orientation: shown the same.
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90 degrees clockwise to display
        img.rotate(90, expand=True).save(lib / "photos" / "rotated.png", exif=exif)
    for frame, name in ((20, "other1.jpg"), (10, "other2.jpg")):
        _ff("-f", "lavfi", "-i", f"mandelbrot=s=640x480:start_scale={frame / 10}",
            "-frames:v", "1", str(lib / "photos" / name))  # fmt: skip
    m = lib / "music"
    _melody(m / "song.flac", 300, 110, 2, 1)
    _ff("-i", str(m / "song.flac"), "-b:a", "128k", str(m / "song128.mp3"))
    _ff("-i", str(m / "song.flac"), "-b:a", "320k", str(m / "song320.mp3"))
    _ff("-ss", "1", "-i", str(m / "song.flac"), str(m / "trimmed.flac"))
    _ff("-i", str(m / "song128.mp3"), "-c", "copy", "-metadata", "title=Retagged",
        str(m / "retagged.mp3"))  # fmt: skip
    _melody(m / "other.flac", 420, 70, 3, 2)
    v = lib / "video"
    _ff("-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=6", "-pix_fmt", "yuv420p",
        str(v / "clip.mp4"))  # fmt: skip
    _ff("-i", str(v / "clip.mp4"), "-vf", "scale=160:120", "-b:v", "150k", str(v / "small.mp4"))
    _ff("-f", "lavfi", "-i", "mandelbrot=s=320x240:r=25", "-t", "6", "-pix_fmt", "yuv420p",
        str(v / "other.mp4"))  # fmt: skip


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    base = tmp_path_factory.mktemp("similar")
    lib, scratch = base / "library", base / "scratch"
    scratch.mkdir()
    _library(lib, scratch)
    with http_daemon([lib]) as h:
        h.daemon.catalog_root = lib  # type: ignore[attr-defined]

        def signed() -> bool:
            rows = h.daemon.catalog.query(
                "SELECT (SELECT count(DISTINCT file_hash) FROM media_items"
                " WHERE media_type IN ('image', 'audio', 'video')) AS items,"
                " (SELECT count(*) FROM signatures) AS signed"
            )
            return bool(rows[0]["items"] == 20 and rows[0]["signed"] == 20)

        wait_for(signed, 240, "every signature")
        yield h


def _names(group: dict[str, Any]) -> set[str]:
    return {Path(i["path"]).name for i in group["items"]}


def _group_of(groups: list[dict[str, Any]], name: str) -> set[str]:
    found = [_names(g) for g in groups if name in _names(g)]
    assert len(found) <= 1, found
    return found[0] if found else set()


def test_each_copy_lands_in_its_tier(sim: Http) -> None:
    result = sim.daemon.call("duplicates", {"limit": 100})
    by_tier: dict[str, list[dict[str, Any]]] = {}
    for g in result["duplicates"]:
        by_tier.setdefault(g["tier"], []).append(g)
    same, near = by_tier.get("same-content", []), by_tier.get("near", [])
    print({t: [sorted(_names(g)) for g in gs] for t, gs in by_tier.items()}, result["tiers"])
    print(
        sim.daemon.catalog.query(
            "SELECT file_hash, kind, status, error, content_hash, phash FROM signatures"
        )
    )
    # The PNG holds the JPEG's decoded pixels; the rotated PNG shows them too.
    assert {"photo.jpg", "converted.png", "rotated.png"} <= _group_of(same, "photo.jpg")
    assert {"song128.mp3", "retagged.mp3"} == _group_of(same, "retagged.mp3")
    photos = _group_of(near, "resized.jpg")
    assert {"photo.jpg", "resized.jpg", "recompressed.jpg", "converted.webp"} <= photos
    assert "cropped.jpg" in photos
    assert not photos & {"burst_51.jpg", "burst_53.jpg", "other1.jpg", "other2.jpg"}
    songs = _group_of(near, "song.flac")
    assert {"song.flac", "song128.mp3", "song320.mp3", "trimmed.flac"} <= songs
    assert "other.flac" not in songs
    assert _group_of(near, "clip.mp4") == {"clip.mp4", "small.mp4"}
    for loner in ("burst_51.jpg", "burst_53.jpg", "other1.jpg", "other.flac", "other.mp4"):
        assert not any(loner in _names(g) for g in result["duplicates"]), loner
    assert result["tiers"]["near"] == len(near)
    only = sim.daemon.call("duplicates", {"tier": "near", "limit": 100})
    assert {g["tier"] for g in only["duplicates"]} == {"near"}


def test_keep_suggestion_and_merge(sim: Http) -> None:
    near = sim.daemon.call("duplicates", {"tier": "near", "limit": 100})["duplicates"]
    group = next(g for g in near if "song.flac" in _names(g))
    kept = next(i for i in group["items"] if i["id"] == group["keep"])
    assert Path(kept["path"]).suffix == ".flac"  # lossless over lossy
    assert group["keep_reason"]
    other = next(i for i in group["items"] if Path(i["path"]).name == "song128.mp3")
    sim.daemon.ctl("tag", "add", "favourite", other["path"])
    out = sim.daemon.ctl("duplicates", "merge", group["id"], "--keep", str(kept["id"]), "--json")
    assert '"tags": 1' in out.stdout
    info = sim.daemon.call("info", {"id": kept["id"]})
    assert "favourite" in info["tags"]
    assert "favourite" not in sim.daemon.call("info", {"id": other["id"]})["tags"]
    assert Path(other["path"]).exists()  # never deletes a file


def test_similar_lists_the_closest(sim: Http) -> None:
    lib: Path = sim.daemon.catalog_root  # type: ignore[attr-defined]
    photo = str(lib / "photos" / "photo.jpg")
    result = sim.daemon.call("similar", {"path": photo})
    names = [Path(s["path"]).name for s in result["similar"]]
    assert "resized.jpg" in names and "other1.jpg" not in names
    # A wider radius takes the burst in (it is close), ordered by distance.
    wide = sim.daemon.call("similar", {"path": photo, "max_distance": 20})["similar"]
    assert [s["distance"] for s in wide] == sorted(s["distance"] for s in wide)
    out = sim.daemon.ctl("similar", photo)
    assert "resized.jpg" in out.stdout


def test_waveform_over_http(sim: Http) -> None:
    lib: Path = sim.daemon.catalog_root  # type: ignore[attr-defined]
    row = sim.daemon.catalog.item(lib / "music" / "song.flac")
    assert row is not None
    with sim.client(sim.read) as client:
        reply = client.get(f"/api/v1/items/{row['id']}/waveform")
        missing = client.get("/api/v1/items/999999/waveform")
    assert reply.status_code == 200, reply.text
    assert missing.status_code == 404
    peaks = reply.json()["peaks"]
    assert len(peaks) == 200 and all(lo <= hi for lo, hi in peaks)
    assert max(hi for _, hi in peaks) > 1000  # a real signal, not silence
