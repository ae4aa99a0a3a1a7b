"""Generate a synthetic media library: nested folders, realistic names, sizes and magic bytes.

    python bench/gen_library.py ROOT --files 100000 --profile small

Profiles: ``tiny`` (0.5-8 KiB: the per-file overhead case, like sidecars and small
thumbnails), ``small`` (every file at most 1 MiB: photos, short tracks, sidecars),
``large`` (8-64 MiB: videos and lossless audio), ``mixed`` (mostly small, some large).
Every file has different content (so a different hash) and the magic bytes of its
extension, so content sniffing sees the type a real file would have. Deterministic per seed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

__all__ = ["PROFILES", "generate"]

KIB = 1024
MIB = 1024 * KIB

# extension -> magic bytes at the start of the file
MAGIC: dict[str, bytes] = {
    ".jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    ".png": b"\x89PNG\r\n\x1a\n",
    ".mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    ".flac": b"fLaC\x00\x00\x00\x22",
    ".mp4": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
    ".mkv": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska",
    ".wav": b"RIFF\x00\x00\x00\x00WAVEfmt ",
    ".xmp": b"<?xpacket begin=",
    ".nfo": b"<?xml version=",
    ".txt": b"",
}

# profile -> list of (weight, folder kind, extension, min size, max size)
PROFILES: dict[str, list[tuple[int, str, str, int, int]]] = {
    "tiny": [
        (60, "photos", ".jpg", 512, 8 * KIB),
        (20, "music", ".mp3", 512, 8 * KIB),
        (20, "photos", ".xmp", 512, 4 * KIB),
    ],
    "small": [
        (55, "photos", ".jpg", 100 * KIB, MIB),
        (10, "photos", ".png", 50 * KIB, MIB),
        (20, "music", ".mp3", 200 * KIB, MIB),
        (10, "photos", ".xmp", 1 * KIB, 8 * KIB),
        (5, "videos", ".nfo", 1 * KIB, 4 * KIB),
    ],
    "large": [
        (50, "videos", ".mp4", 8 * MIB, 64 * MIB),
        (20, "videos", ".mkv", 8 * MIB, 64 * MIB),
        (30, "music", ".flac", 8 * MIB, 40 * MIB),
    ],
    "mixed": [
        (55, "photos", ".jpg", 100 * KIB, MIB),
        (20, "music", ".mp3", 200 * KIB, MIB),
        (15, "photos", ".xmp", 1 * KIB, 8 * KIB),
        (5, "videos", ".mp4", 8 * MIB, 64 * MIB),
        (5, "music", ".flac", 8 * MIB, 40 * MIB),
    ],
}


def _folder(kind: str, n: int) -> str:
    if kind == "photos":
        return f"Photos/{2005 + n % 20}/{1 + n % 12:02}/{n // 240:04}"
    if kind == "music":
        return f"Music/Artist {n % 97:02}/Album {n // 97 % 50:02}"
    return f"Videos/Series {n % 13}/Season {n // 13 % 9 + 1}"


def generate(root: Path, files: int, profile: str, seed: int = 1) -> tuple[int, int]:
    """Create ``files`` files under ``root``; return (files, bytes)."""
    rng = random.Random(seed)
    choices = PROFILES[profile]
    weights = [c[0] for c in choices]
    block = rng.randbytes(max(c[4] for c in choices))  # one random block, sliced per file
    total = 0
    per_folder = 120
    made_dirs: set[str] = set()
    for i in range(files):
        _, kind, ext, low, high = rng.choices(choices, weights)[0]
        folder = _folder(kind, i // per_folder)
        if folder not in made_dirs:
            (root / folder).mkdir(parents=True, exist_ok=True)
            made_dirs.add(folder)
        size = rng.randint(low, high)
        start = rng.randrange(0, len(block) - size + 1)
        # A unique prefix makes every file's hash differ even when the slices overlap.
        head = MAGIC[ext] + i.to_bytes(8, "little")
        body = block[start : start + size - len(head)] if size > len(head) else b""
        path = root / folder / f"{kind[:-1]}_{i:07}{ext}"
        with open(path, "wb") as f:
            f.write(head)
            f.write(body)
        total += len(head) + len(body)
    return files, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="small")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    count, size = generate(args.root, args.files, args.profile, args.seed)
    print(
        f"{count} files, {size / MIB:.1f} MiB in {args.root} ({time.monotonic() - began:.1f}s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
