"""Session fixtures for the extraction tests: the media set, built once, and the reference
tools' readings of it (one exiftool run for every file, ffprobe per file on demand)."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.integration.media import MediaSet, build


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> MediaSet:
    return build(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def exiftool(media: MediaSet) -> dict[str, dict[str, Any]]:
    """exiftool -json -n for every good file, keyed by file name (one process for all)."""
    files = [str(p) for p in media.videos + media.audio + media.images]
    out = subprocess.run(
        ["exiftool", "-json", "-n", "-charset", "utf8", *files],
        check=False,  # exit 1 when one file has a format it does not know; the rest stand
        capture_output=True,
        text=True,
    ).stdout
    return {Path(d["SourceFile"]).name: d for d in json.loads(out)}


@cache
def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            "ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
            f"file:{path}",
        ],
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    data: dict[str, Any] = json.loads(out)
    return data
