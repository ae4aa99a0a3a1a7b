"""Extraction and thumbnail speed against per-file-process baselines measured in the same run.

    python bench/bench_extract.py                 # defaults: 200 images, 200 tracks, 12 videos
    python bench/bench_extract.py --json
    python bench/bench_extract.py --agreement     # the agreement table by format

``--agreement`` builds the generated set of tests/integration/agreement.py (every format
Pillow and ffmpeg write here), reads it as the daemon does (the hasher's typing, then the
extractors, ``--workers`` files at a time) and prints, by format, how many fields agree with
exiftool and ffprobe (type, dimensions, camera fields, audio tags, codec/fps/duration),
every disagreement, and our extraction rate against ``exiftool -j`` run in batch (one
process for all the files) over the same files in the same run (medians of ``--repeat``,
the two interleaved), in wall time and in CPU time (ours counts the ffprobe children).
    python bench/bench_extract.py --verify        # damage verification cost (bench_verify.py)

- images and audio: our extractors (Pillow + EXIF, mutagen; ``extract_workers`` files at a
  time, as the daemon runs them) against one ``exiftool -json`` process per file, run with
  the same concurrency, on the same files;
- video: our ffprobe call plus parsing, per file, against a bare
  ``ffprobe -show_format -show_streams`` per file (the daemon's added time per video);
- thumbnails: 24-megapixel JPEGs with draft mode (ours) against a full decode (Pillow
  without draft), and 1080p video frames (ffmpeg's ``thumbnail`` filter) in files/s.

Each measurement is repeated (``--repeat``); medians are compared, and every run is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mediaforged.extract.image import guard_bombs
from mediaforged.extract.read import extract_one
from mediaforged.extract.thumbnail import image_thumbnail, save_webp, video_frame
from tests.integration import agreement
from tests.integration.media import camera_exif, ffmpeg, make_audio, tag_audio


def make_inputs(work: Path, images: int, tracks: int, videos: int) -> dict[str, list[Path]]:
    """Files are made once per work dir and reused."""
    out: dict[str, list[Path]] = {"image": [], "audio": [], "video": [], "big": []}
    work.mkdir(parents=True, exist_ok=True)
    big = work / "big-24mp.jpg"
    if not big.exists():
        base = Image.radial_gradient("L").resize((6000, 4000)).convert("RGB")
        base.save(big, "JPEG", quality=90, exif=camera_exif())
    for i in range(images):  # camera photos of 12 MP with full EXIF (headers are what we read)
        path = work / f"img{i:04d}.jpg"
        if not path.exists():
            if i == 0:
                small = Image.radial_gradient("L").resize((4000, 3000)).convert("RGB")
                small.save(path, "JPEG", quality=85, exif=camera_exif())
            else:
                shutil.copy(work / "img0000.jpg", path)
        out["image"].append(path)
    for i in range(tracks):  # 30-second tracks, half MP3 (ID3v2.4 + cover), half FLAC
        path = work / f"track{i:04d}.{'mp3' if i % 2 else 'flac'}"
        if not path.exists():
            seed = work / f"seed.{path.suffix[1:]}"
            if not seed.exists():
                args = ["-c:a", "libmp3lame", "-b:a", "192k"] if i % 2 else ["-c:a", "flac"]
                make_audio(seed, args, seconds=30.0)
                renamed = seed.with_name("song" + seed.suffix)
                seed.rename(renamed)
                tag_audio(renamed)
                renamed.rename(seed)
            shutil.copy(seed, path)
        out["audio"].append(path)
    for i in range(videos):  # 1080p, 5 s, H.264 + AAC
        path = work / f"video{i:03d}.mp4"
        if not path.exists():
            ffmpeg(
                "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=5",
                "-f", "lavfi", "-i", "sine=frequency=440:duration=5",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-shortest", str(path),
            )  # fmt: skip
        out["video"].append(path)
    out["big"] = [big]
    return out


async def _concurrently(
    paths: list[Path], work: Callable[[Path], Awaitable[Any]], workers: int
) -> float:
    limit = asyncio.Semaphore(workers)

    async def one(path: Path) -> None:
        async with limit:
            await work(path)

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for p in paths))
    return time.perf_counter() - start


async def _process(args: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    if await proc.wait() != 0:
        raise RuntimeError(f"{args[0]} failed on {args[-1]}")


async def bench(inputs: dict[str, list[Path]], workers: int, repeat: int) -> dict[str, Any]:
    guard_bombs(178956970)
    executor = ThreadPoolExecutor(workers + 2)
    results: dict[str, Any] = {}

    def ours(media_type: str) -> Callable[[Path], Awaitable[Any]]:
        async def work(path: Path) -> None:
            await extract_one(bytes(path), media_type, 60.0, executor, root=bytes(path.parent))

        return work

    async def exiftool(path: Path) -> None:
        await _process(["exiftool", "-json", "-n", str(path)])

    async def bare_ffprobe(path: Path) -> None:
        await _process(
            ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
             f"file:{path}"]
        )  # fmt: skip

    for media_type in ("image", "audio"):
        paths = inputs[media_type]
        mine = [await _concurrently(paths, ours(media_type), workers) for _ in range(repeat)]
        base = [await _concurrently(paths, exiftool, workers) for _ in range(repeat)]
        results[media_type] = _compare(len(paths), mine, base, "exiftool -json per file")

    videos = inputs["video"]
    mine = [await _concurrently(videos, ours("video"), 1) for _ in range(repeat)]
    base = [await _concurrently(videos, bare_ffprobe, 1) for _ in range(repeat)]
    results["video"] = _compare(len(videos), mine, base, "bare ffprobe per file")
    results["video"]["added_time_ratio"] = round(
        statistics.median(mine) / statistics.median(base), 3
    )

    # Thumbnails: a 24 MP JPEG with draft mode, against a full decode, one at a time.
    big = inputs["big"][0]
    out = Path(str(big) + ".webp")
    n = 5

    def draft() -> None:
        for _ in range(n):
            save_webp(image_thumbnail(bytes(big), 320, root=bytes(big.parent)), out)

    def full() -> None:
        for _ in range(n):
            with Image.open(big) as img:
                img.load()
                img.thumbnail((320, 320))
                save_webp(img.convert("RGB"), out)

    mine = [_timed(draft) for _ in range(repeat)]
    base = [_timed(full) for _ in range(repeat)]
    results["thumb_24mp_jpeg"] = _compare(n, mine, base, "Pillow without draft mode")

    async def frames() -> None:
        for path in videos:
            save_webp(await video_frame(bytes(path), 320, 5.0, 60.0, root=bytes(path.parent)), out)

    spans = []
    for _ in range(repeat):
        start = time.perf_counter()
        await frames()
        spans.append(time.perf_counter() - start)
    results["thumb_1080p_video"] = {
        "files": len(videos),
        "files_per_s": round(len(videos) / statistics.median(spans), 2),
        "ms_per_file": round(1000 * statistics.median(spans) / len(videos), 1),
        "runs_s": [round(s, 3) for s in spans],
    }
    executor.shutdown()
    return results


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _compare(files: int, mine: list[float], base: list[float], baseline: str) -> dict[str, Any]:
    ours_s, base_s = statistics.median(mine), statistics.median(base)
    return {
        "files": files,
        "ours_files_per_s": round(files / ours_s, 1),
        "baseline": baseline,
        "baseline_files_per_s": round(files / base_s, 1),
        "speedup": round(base_s / ours_s, 2),
        "ours_runs_s": [round(s, 3) for s in mine],
        "baseline_runs_s": [round(s, 3) for s in base],
    }


def agreement_report(folder: Path, workers: int, repeat: int, as_json: bool) -> int:
    guard_bombs(178956970)
    samples = agreement.build(folder)
    paths = [s.path for s in samples]
    ours: list[float] = []
    ours_cpu: list[float] = []
    readings: dict[Path, agreement.Reading] = {}
    batch: list[float] = []
    batch_cpu: list[float] = []
    exif: dict[Path, dict[str, Any]] = {}
    for _ in range(repeat):  # interleaved: a shared machine's load weighs on both alike
        began, cpu = time.perf_counter(), _cpu()
        readings = asyncio.run(agreement.read_all(paths, workers))
        ours.append(time.perf_counter() - began)
        ours_cpu.append(_cpu() - cpu)
        began, cpu = time.perf_counter(), _cpu()
        exif = agreement.exiftool_all(paths)
        batch.append(time.perf_counter() - began)
        batch_cpu.append(_cpu() - cpu)
    rows, wrong = agreement.tally(samples, readings, exif, agreement.ffprobe_all(samples, exif))
    rate = _compare(len(paths), ours, batch, "exiftool -j (one process, all files)")
    # CPU seconds (ours: this process and its ffprobe children): steadier than wall time.
    rate["ours_cpu_s"] = round(statistics.median(ours_cpu), 3)
    rate["baseline_cpu_s"] = round(statistics.median(batch_cpu), 3)
    rate["cpu_ratio"] = round(rate["baseline_cpu_s"] / max(rate["ours_cpu_s"], 1e-9), 2)
    errors = {p.name: r.error for p, r in readings.items() if r.error}
    if as_json:
        print(json.dumps({"rows": rows, "disagreements": wrong, "rate": rate, "errors": errors}))
        return 0
    print(f"{len(samples)} files, {len(rows)} formats: agreeing/compared fields by group")
    print("\n".join(agreement.table(rows)))
    print("disagreements:" if wrong else "no disagreement")
    print("\n".join(f"  {w}" for w in wrong))
    print(
        f"extraction: ours {rate['ours_files_per_s']:.1f} files/s ({workers} workers), "
        f"exiftool -j batch {rate['baseline_files_per_s']:.1f} files/s: "
        f"{rate['speedup']:.2f}x; CPU {rate['ours_cpu_s']:.2f}s against "
        f"{rate['baseline_cpu_s']:.2f}s: {rate['cpu_ratio']:.2f}x"
    )
    return 0


def _cpu() -> float:
    """CPU seconds of this process and of the children it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> int:
    if "--verify" in sys.argv[1:]:  # verification cost: bench/bench_verify.py
        from bench.bench_verify import main as verify_main  # noqa: PLC0415 - it imports us

        return verify_main([a for a in sys.argv[1:] if a != "--verify"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--tracks", type=int, default=200)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2, help="as extract_workers")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mediaforged-bench-extract"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--agreement", action="store_true", help="the agreement table by format")
    args = parser.parse_args()
    for tool in ("exiftool", "ffprobe", "ffmpeg"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is needed (apt-get install libimage-exiftool-perl ffmpeg)")
    if args.agreement:
        return agreement_report(args.workdir / "agreement", args.workers, args.repeat, args.json)
    inputs = make_inputs(args.workdir, args.images, args.tracks, args.videos)
    results = asyncio.run(bench(inputs, args.workers, args.repeat))
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for key in ("image", "audio", "video", "thumb_24mp_jpeg"):
        r = results[key]
        print(
            f"{key:16} ours {r['ours_files_per_s']:8.1f} files/s   "
            f"{r['baseline']}: {r['baseline_files_per_s']:7.1f} files/s   "
            f"speed-up {r['speedup']:.2f}x"
        )
    print(
        f"{'video':16} added time per file: "
        f"{results['video']['added_time_ratio']:.3f}x bare ffprobe"
    )
    v = results["thumb_1080p_video"]
    print(f"{'thumb_1080p':16} {v['files_per_s']} files/s ({v['ms_per_file']} ms a frame)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
