"""Root's control latency while a query-only user floods the socket (issue 13, item 3).

    sudo python bench/bench_lockout.py --seconds 60 --idle 600 --per-s 35

Starts mediaforged (socket mode 0666) on a small tree, then measures root's ``status`` and
``ping``, each on a new connection as mediaforgectl makes them, twice: quiet, and while
``nobody`` holds ``--idle`` connections, dribbles and deaf slow ones, and opens about
``--per-s`` new connections a second (the issue's run: 600 idle, 2,000 connections over
60 s, which failed 78 % of status calls). Reports p50/p99 in milliseconds, status p99 as a
ratio to ping's in the same phase, the failures (target: none) and whether status p99
stays under the 200 ms target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from daemonproc import start_daemon

from mediaforged.cli.main import Client, CommandFailed, DaemonUnavailable
from tests.crowd import Nobody, flood

TARGET_STATUS_P99_MS = 200.0


def _start(work: Path) -> tuple[subprocess.Popen[bytes], Path]:
    tree = work / "library"
    tree.mkdir()
    for i in range(200):
        (tree / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes([i % 256]) * 64)
    return start_daemon(tree, work, work / "s.sock", 'socket_mode = "0666"\n')


def measure(sock: Path, seconds: float) -> tuple[dict[str, list[float]], int]:
    """Milliseconds per status and ping (a new connection each), and the failed calls."""
    times: dict[str, list[float]] = {"status": [], "ping": []}
    failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for cmd, values in times.items():
            began = time.perf_counter()
            try:
                client = Client(sock, timeout=5)
                try:
                    client.call(cmd)
                finally:
                    client.close()
            except (OSError, DaemonUnavailable, CommandFailed):
                failed += 1
                continue
            values.append((time.perf_counter() - began) * 1000)
        time.sleep(0.02)
    return times, failed


def report(phase: str, times: dict[str, list[float]], failed: int) -> dict[str, Any]:
    def p99(values: list[float]) -> float:
        return statistics.quantiles(values, n=100)[98] if len(values) > 1 else float("nan")

    out: dict[str, Any] = {"phase": phase, "failed": failed}
    for name, values in times.items():
        out[name] = {
            "calls": len(values),
            "p50_ms": round(statistics.median(values), 2) if values else None,
            "p99_ms": round(p99(values), 2),
        }
    out["status_p99_over_ping_p99"] = round(p99(times["status"]) / p99(times["ping"]), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--idle", type=int, default=600)
    parser.add_argument("--per-s", type=int, default=35)
    opts = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the flood runs as nobody, the calls as root")
    work = Path(tempfile.mkdtemp(prefix="mfl", dir="/tmp"))
    work.chmod(0o755)
    proc, sock = _start(work)
    try:
        measure(sock, 1.0)  # warm up, and let the first catalog finish
        results = [report("quiet", *measure(sock, min(opts.seconds, 10.0)))]
        with Nobody(flood(sock, opts.idle, opts.seconds, opts.per_s)) as nobody:
            nobody.next_report()
            results.append(report("flood", *measure(sock, opts.seconds - 1)))
            counts = nobody.result()
        results[-1]["nobody"] = dict(counts)
        flooded = results[-1]
        results.append(
            {
                "target_status_p99_ms": TARGET_STATUS_P99_MS,
                "met": flooded["failed"] == 0
                and flooded["status"]["p99_ms"] < TARGET_STATUS_P99_MS,
            }
        )
        print(json.dumps(results, indent=2))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
