"""The sample library: real files of every media type, a duplicate, and idempotent reruns."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from mediaforged.cli.sample import create_sample_library, main
from mediaforged.fs.mediatype import SNIFF_BYTES, sniff

HAVE_FFMPEG = shutil.which("ffmpeg") is not None
OLD_TIME_NS = 1_000_000_000 * 10**9  # 2001-09-09: nothing the builder writes looks like this


def sniffed(path: Path) -> tuple[str, str]:
    with path.open("rb") as stream:
        return sniff(stream.read(SNIFF_BYTES), os.fsencode(path.name))


def tree(root: Path) -> dict[Path, tuple[int, int, int]]:
    """Every file under root with its (inode, size, mtime_ns)."""
    return {
        path: (st.st_ino, st.st_size, st.st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file() and (st := path.stat())
    }


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    dest = tmp_path_factory.mktemp("sample") / "library"
    return dest, create_sample_library(dest)


def test_files_are_real_media_of_every_type(library: tuple[Path, list[Path]]) -> None:
    dest, files = library
    assert set(files) == set(tree(dest))  # everything made is returned, and nothing else
    folders = {"Photos", "Music", "Documents"} | ({"Videos"} if HAVE_FFMPEG else set())
    assert {path.relative_to(dest).parts[0] for path in files} == folders
    kinds = defaultdict(set)
    for path in files:
        mime, media = sniffed(path)
        kinds[media].add(mime)
    expected = {"image", "audio", "other"} | ({"video"} if HAVE_FFMPEG else set())
    assert set(kinds) == expected
    assert {"image/jpeg", "image/png", "image/gif"} <= kinds["image"]
    assert "audio/wav" in kinds["audio"]
    if HAVE_FFMPEG:
        assert "audio/flac" in kinds["audio"]
        assert kinds["video"] == {"video/mp4"}
    assert sum(path.stat().st_size for path in files) < 1_000_000
    assert not [path for path in dest.rglob(".partial-*")]


def test_photos_carry_camera_exif(library: tuple[Path, list[Path]]) -> None:
    _, files = library
    jpegs = [path for path in files if sniffed(path)[0] == "image/jpeg"]
    assert len(jpegs) >= 3
    for path in jpegs:
        with Image.open(path) as image:
            exif = image.getexif()
        assert exif.get(ExifTags.Base.Make), path.name
        assert exif.get(ExifTags.Base.Model), path.name
        taken = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal)
        assert isinstance(taken, str) and len(taken) == 19, path.name


@pytest.mark.skipif(not HAVE_FFMPEG, reason="the tagged tracks need ffmpeg")
def test_tracks_are_tagged(library: tuple[Path, list[Path]]) -> None:
    import mutagen

    _, files = library
    tracks = [path for path in files if path.suffix in (".mp3", ".flac")]
    assert tracks
    for path in tracks:
        audio = mutagen.File(path, easy=True)
        assert audio is not None, path.name
        assert audio["artist"] == ["Sample Artist"]
        assert audio["album"] == ["Sample Album"]
        assert audio["title"][0].endswith("Tone")
        assert audio.info.length == pytest.approx(1.0, abs=0.1)


def test_contains_an_exact_duplicate(library: tuple[Path, list[Path]]) -> None:
    _, files = library
    by_digest: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        by_digest[hashlib.sha256(path.read_bytes()).hexdigest()].append(path)
    duplicates = [paths for paths in by_digest.values() if len(paths) > 1]
    assert len(duplicates) == 1
    assert len({path.name for path in duplicates[0]}) == 2  # the copy has another name


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "library"
    first = create_sample_library(dest)
    for path in first:
        os.utime(path, ns=(OLD_TIME_NS, OLD_TIME_NS))
    edited = dest / "Documents" / "README.txt"
    edited.write_text("the user's own notes\n", encoding="utf-8")
    os.utime(edited, ns=(OLD_TIME_NS, OLD_TIME_NS))
    before = tree(dest)

    second = create_sample_library(dest)

    assert second == first
    assert tree(dest) == before  # same files, same inodes, sizes and mtimes
    assert edited.read_text(encoding="utf-8") == "the user's own notes\n"


def test_missing_files_are_recreated(tmp_path: Path) -> None:
    dest = tmp_path / "library"
    files = create_sample_library(dest)
    photo, wav = files[0], next(path for path in files if path.suffix == ".wav")
    original = photo.read_bytes()
    photo.unlink()
    wav.unlink()
    os.utime(files[1], ns=(OLD_TIME_NS, OLD_TIME_NS))

    assert create_sample_library(dest) == files
    assert photo.read_bytes() == original  # the generator is deterministic
    assert sniffed(wav) == ("audio/wav", "audio")
    assert files[1].stat().st_mtime_ns == OLD_TIME_NS


def test_main_reports_made_then_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "library"
    assert main([str(dest)]) == 0
    out = capsys.readouterr().out.splitlines()
    made = [line for line in out if line.startswith("made  ")]
    assert "made  Documents/README.txt" in made
    assert out[-1].startswith(f"{len(made)} file(s) made, 0 already present")

    # Again through `python -m`, as a user would run it.
    proc = subprocess.run(
        [sys.executable, "-m", "mediaforged.cli.sample", str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    kept = proc.stdout.splitlines()
    assert "kept  Documents/README.txt" in kept
    assert kept[-1].startswith(f"0 file(s) made, {len(made)} already present")


def test_main_fails_cleanly_when_dest_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    assert main([str(blocker)]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert blocker.read_text(encoding="utf-8") == "x"
