"""Damage verification cost against bare ``ffmpeg -v error -f null -`` on the same files, in
the same run, and thumbnails per second per core.

    python bench/bench_verify.py                 # 40 photos of 12 MP, 40 tracks, 6 videos
    python bench/bench_extract.py --verify       # the same
    python bench/bench_verify.py --json

- verification: ``extract/verify.verify_file`` (Pillow ``load()`` for PNG/TIFF, Pillow and
  then ffmpeg for JPEG, ffmpeg at level+info with its checks for audio and video; niced as
  in the daemon), ``--workers`` files at a time, as ``verify_workers``;
- baseline: one ``ffmpeg -v error -i FILE -f null -`` per file, the same concurrency and
  the same niceness (19);
- thumbnails: ``make_thumbnail`` (the whole fallback chain) on one worker: per core.

Files/s and MB/s; each measurement repeated (``--repeat``), medians compared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_extract import make_inputs
from mediaforged.extract.thumbnail import make_thumbnail
from mediaforged.extract.verify import verify_file
from mediaforged.fs.mediatype import sniff


async def _each(paths: list[Path], workers: int, one: Callable[[Path], Awaitable[Any]]) -> float:
    limit = asyncio.Semaphore(workers)

    async def run(path: Path) -> None:
        async with limit:
            await one(path)

    began = time.perf_counter()
    await asyncio.gather(*(run(p) for p in paths))
    return time.perf_counter() - began


async def _bare_ffmpeg(path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: os.nice(19),  # at the daemon's priority: cost, not scheduling
    )
    await proc.communicate()


async def bench(files: list[Path], photos: list[Path], workers: int, repeat: int) -> dict[str, Any]:
    mimes = {p: sniff(p.read_bytes()[:4096], p.name.encode()) for p in files}
    total_mb = sum(p.stat().st_size for p in files) / 1e6
    statuses: dict[str, int] = {}
    with ThreadPoolExecutor(workers + 1) as pool:

        async def ours(path: Path) -> None:
            mime, media_type = mimes[path]
            verdict = await verify_file(
                bytes(path), media_type, mime, root=bytes(path.parent), executor=pool
            )
            statuses[verdict.status] = statuses.get(verdict.status, 0) + 1

        mine, base = [], []
        for _ in range(repeat):
            mine.append(await _each(files, workers, ours))
            base.append(await _each(files, workers, _bare_ffmpeg))

        loop = asyncio.get_running_loop()

        async def thumb(path: Path) -> None:
            async def run(call: Callable[[], Any]) -> Any:
                return await loop.run_in_executor(pool, call)

            await make_thumbnail(
                bytes(path), "image", 320, root=bytes(path.parent), duration=None,
                time_limit=120, run=run,
            )  # fmt: skip

        thumbs = [await _each(photos, 1, thumb) for _ in range(repeat)]
    m, b, t = statistics.median(mine), statistics.median(base), statistics.median(thumbs)
    return {
        "files": len(files),
        "megabytes": round(total_mb, 1),
        "verdicts": {k: v // repeat for k, v in statuses.items()},
        "ours_files_per_s": round(len(files) / m, 2),
        "ours_mb_per_s": round(total_mb / m, 1),
        "ffmpeg_files_per_s": round(len(files) / b, 2),
        "ffmpeg_mb_per_s": round(total_mb / b, 1),
        "ours_vs_ffmpeg": round(b / m, 2),
        "thumbs_per_s_per_core": round(len(photos) / t, 2),
        "ours_runs_s": [round(s, 3) for s in mine],
        "ffmpeg_runs_s": [round(s, 3) for s in base],
        "thumb_runs_s": [round(s, 3) for s in thumbs],
        "workers": workers,
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--tracks", type=int, default=40)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--workers", type=int, default=1, help="as verify_workers")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mediaforged-bench-extract"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    inputs = make_inputs(args.workdir, args.images, args.tracks, args.videos)
    files = inputs["image"] + inputs["audio"] + inputs["video"]
    result = asyncio.run(bench(files, inputs["image"], args.workers, args.repeat))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"verify  ours {result['ours_files_per_s']} files/s, {result['ours_mb_per_s']} MB/s   "
        f"ffmpeg -f null {result['ffmpeg_files_per_s']} files/s, "
        f"{result['ffmpeg_mb_per_s']} MB/s   ours/ffmpeg {result['ours_vs_ffmpeg']}x"
    )
    print(f"verdicts {result['verdicts']} over {result['files']} files ({result['megabytes']} MB)")
    print(f"thumbnails {result['thumbs_per_s_per_core']} per second per core (12 MP JPEGs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
