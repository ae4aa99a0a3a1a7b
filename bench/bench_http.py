"""The HTTP API against the Unix socket, on the same daemon and catalog, in the same run.

    python bench/bench_http.py --files 100000

Starts mediaforged on a fresh tree (``gen_library``'s files plus a few hundred real pictures,
so that there are thumbnails) with HTTP on a free loopback port. While the first catalog
runs, and again once it is idle, asks in turn over one socket connection and one HTTP
keep-alive connection: ``status``, and an items page (``search``, 50 items; over HTTP
``GET /api/v1/items``). Idle, it also fetches thumbnails (``GET .../thumbnail``) against
reading the same WebP files from the disk, and counts thumbnails per second from 8
concurrent keep-alive connections (one lean asyncio client), by id and by the URLs the web
page asks for (``?v=HASH``: no catalog lookup), each with the daemon's CPU time per
thumbnail over the same seconds: on a shared machine that figure moves less than the rate,
and 1000 / it is what one core can serve. Reports p50/p95/max in milliseconds and each HTTP
figure's ratio to the socket's (the file read's, for thumbnails) from the same phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_control import _busy, _pct
from daemonproc import start_daemon
from gen_library import generate

from mediaforged.cli.main import Client

TARGET_STATUS_P95_MS = 50.0
TARGET_THUMBNAILS_PER_S = 1000.0
PICTURES = 300


def _pictures(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    rng = random.Random(7)
    for i in range(count):
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        Image.new("RGB", (640, 480), colour).save(folder / f"pic_{i:04}.jpg", "JPEG")


def _http_address(log: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if '"http_listening"' in line:
                return str(json.loads(line)["address"])
        time.sleep(0.05)
    raise SystemExit("mediaforged logged no http_listening")


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = fn()
    return (time.perf_counter() - began) * 1000, result


def measure(
    sock: Path, http: httpx.Client, while_busy: bool, rounds: int
) -> dict[str, list[float]]:
    """status and an items page over the socket and over HTTP, in turn."""
    client = Client(sock, timeout=60)
    times: dict[str, list[float]] = {
        k: [] for k in ("status socket", "status http", "items socket", "items http")
    }
    try:
        done = 0
        while True:
            ms, status = _timed(lambda: client.call("status", {}))
            times["status socket"].append(ms)
            ms, reply = _timed(lambda: http.get("/api/v1/status"))
            reply.raise_for_status()
            times["status http"].append(ms)
            ms, _ = _timed(lambda: client.call("search", {"limit": 50, "sort": "-added"}))
            times["items socket"].append(ms)
            ms, reply = _timed(lambda: http.get("/api/v1/items?limit=50&sort=-added"))
            reply.raise_for_status()
            times["items http"].append(ms)
            done += 1
            if (while_busy and not _busy(status)) or (not while_busy and done >= rounds):
                return times
            time.sleep(0.02)  # a busy dashboard, not a flood
    finally:
        client.close()


def _thumbnails(sock: Path, pictures: Path) -> dict[int, Path]:
    client = Client(sock, timeout=60)
    try:
        out: dict[int, Path] = {}
        for path in sorted(pictures.iterdir()):
            info = client.call("info", {"path": str(path)})
            if info.get("thumbnail"):
                out[info["item"]["id"]] = Path(info["thumbnail"])
        return out
    finally:
        client.close()


def thumbnail_latency(http: httpx.Client, thumbs: dict[int, Path]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"thumbnail disk": [], "thumbnail http": []}
    for item_id, path in thumbs.items():
        ms, _ = _timed(path.read_bytes)
        times["thumbnail disk"].append(ms)
        ms, reply = _timed(lambda i=item_id: http.get(f"/api/v1/items/{i}/thumbnail"))
        reply.raise_for_status()
        times["thumbnail http"].append(ms)
    return times


async def _client_loop(
    host: str, port: int, token: str, urls: list[str], *, first: int, step: int, stop: float
) -> int:
    """One keep-alive connection asking for thumbnails in turn until ``stop``: a plain
    asyncio stream, so that the client's own cost (httpx's is larger than the server's)
    takes as little as it can of the two cores the daemon also runs on."""
    reader, writer = await asyncio.open_connection(host, port)
    done, k = 0, first
    try:
        while time.monotonic() < stop:
            writer.write(
                f"GET {urls[k % len(urls)]} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {token}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"a thumbnail request failed: {head[:200]!r}")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            done, k = done + 1, k + step
    finally:
        writer.close()
    return done


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thumbnails_per_second(
    base: str, token: str, urls: list[str], *, clients: int, seconds: float, pid: int
) -> tuple[float, float]:
    """Thumbnails per second from ``clients`` concurrent connections, and the daemon's
    CPU milliseconds per thumbnail over the same seconds (what one core could serve)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)

    async def run() -> int:
        stop = time.monotonic() + seconds
        counts = await asyncio.gather(
            *(
                _client_loop(host, int(port), token, urls, first=n, step=clients, stop=stop)
                for n in range(clients)
            )
        )
        return sum(counts)

    cpu, began = _cpu_seconds(pid), time.monotonic()
    served = asyncio.run(run())
    elapsed, cpu = time.monotonic() - began, _cpu_seconds(pid) - cpu
    return served / elapsed, cpu * 1000 / max(served, 1)


def summary(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        name: {
            "p50_ms": round(statistics.median(v), 2),
            "p95_ms": round(_pct(v, 0.95), 2),
            "max_ms": round(max(v), 2),
        }
        for name, v in times.items()
        if v
    }


def _ratios(s: dict[str, dict[str, float]], pairs: list[tuple[str, str]]) -> dict[str, float]:
    return {
        f"{a} / {b} p95": round(s[a]["p95_ms"] / s[b]["p95_ms"], 2)
        for a, b in pairs
        if a in s and b in s
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100000)
    parser.add_argument("--profile", choices=["tiny", "small", "large", "mixed"], default="tiny")
    parser.add_argument("--idle-rounds", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mediaforged-bench-http"))
    args = parser.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    tree = args.workdir / "tree"
    tree.mkdir(parents=True)
    files, size = generate(tree, args.files, args.profile)
    _pictures(tree / "Pictures", PICTURES)
    sock = Path(tempfile.mkdtemp(prefix="mfh", dir="/tmp")) / "s.sock"
    proc, _ = start_daemon(tree, args.workdir, sock, 'watch = false\nhttp_listen = "127.0.0.1:0"\n')
    try:
        base = _http_address(args.workdir / "daemon.log")
        token_file = args.workdir / "state" / "admin.token"
        while not (token_file.exists() and token_file.read_text().strip()):
            time.sleep(0.05)
        token = token_file.read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            began = time.monotonic()
            busy = summary(measure(sock, http, while_busy=True, rounds=0))
            catalog_s = time.monotonic() - began
            idle = summary(measure(sock, http, while_busy=False, rounds=args.idle_rounds))
            thumbs = _thumbnails(sock, tree / "Pictures")
            idle |= summary(thumbnail_latency(http, thumbs))
        by_id = [f"/api/v1/items/{i}/thumbnail" for i in thumbs]
        # As the web page asks: the URL names the content hash (the thumbnail's file name).
        as_page = [f"{url}?v={thumbs[i].stem}" for url, i in zip(by_id, thumbs, strict=True)]
        load = {"clients": args.clients, "seconds": args.seconds, "pid": proc.pid}
        rate, cpu_ms = thumbnails_per_second(base, token, by_id, **load)
        page_rate, page_cpu_ms = thumbnails_per_second(base, token, as_page, **load)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(sock.parent, ignore_errors=True)
    pairs = [
        ("status http", "status socket"),
        ("items http", "items socket"),
        ("thumbnail http", "thumbnail disk"),
    ]
    result = {
        "files": files + PICTURES,
        "bytes": size,
        "catalog_s": round(catalog_s, 1),
        "while_cataloging": busy,
        "while_cataloging_ratios": _ratios(busy, pairs),
        "idle": idle,
        "idle_ratios": _ratios(idle, pairs),
        "thumbnails": len(thumbs),
        "thumbnails_per_s": round(rate),
        "daemon_cpu_ms_per_thumbnail": round(cpu_ms, 3),
        "thumbnails_per_s_page_urls": round(page_rate),
        "daemon_cpu_ms_per_thumbnail_page_urls": round(page_cpu_ms, 3),
        "clients": args.clients,
        "status_http_p95_target_ms": TARGET_STATUS_P95_MS,
        "thumbnails_per_s_target": TARGET_THUMBNAILS_PER_S,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
