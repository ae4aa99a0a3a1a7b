"""Control-channel latency while the daemon catalogs a big tree.

    python bench/bench_control.py --files 50000 --profile tiny

Starts mediaforged on a fresh tree and, while its first import runs, asks over one
connection in turn: ``ping`` (the baseline: a round trip through the socket and the event
loop, no catalog work), ``status`` and ``search`` (a text filter, 50 results). The same
three are measured again once the daemon is idle. Reports p50/p95 in milliseconds, each
command's ratio to ping measured in the same phase, and whether status p95 stays under
the 50 ms target while cataloging.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from daemonproc import start_daemon
from gen_library import generate

from mediaforged.cli.main import Client

TARGET_STATUS_P95_MS = 50.0
REQUESTS = {
    "ping": ("ping", {}),
    "status": ("status", {}),
    "search": ("search", {"text": "a", "limit": 50}),
}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _start(tree: Path, work: Path) -> tuple[subprocess.Popen[bytes], Path]:
    sock = Path(tempfile.mkdtemp(prefix="mfc", dir="/tmp")) / "s.sock"
    return start_daemon(tree, work, sock, "watch = false\n")


def _busy(status: dict[str, Any]) -> bool:
    """Cataloging: indexing, and then metadata extraction and thumbnails, which follow it."""
    pending = status["pending"]
    return status["state"] in ("starting", "scanning") or any(
        pending[k]
        for k in (
            "index_queue",
            "indexing",
            "write_queue",
            "reconciles_queued",
            "metadata",
            "thumbnails",
        )
    )


def measure(sock: Path, while_busy: bool, rounds: int) -> dict[str, list[float]]:
    """Latency of each request, in turn; while_busy: until the import is done."""
    client = Client(sock, timeout=60)
    times: dict[str, list[float]] = {name: [] for name in REQUESTS}
    try:
        done = 0
        while True:
            for name, (cmd, args) in REQUESTS.items():
                began = time.perf_counter()
                result = client.call(cmd, args)
                times[name].append((time.perf_counter() - began) * 1000)
                if name == "status":
                    status = result
            done += 1
            if while_busy and not _busy(status):
                return times
            if not while_busy and done >= rounds:
                return times
            time.sleep(0.02)  # a few dozen requests a second: a busy dashboard, not a flood
    finally:
        client.close()


def report(phase: str, times: dict[str, list[float]]) -> dict[str, Any]:
    ping_p50 = statistics.median(times["ping"])
    out: dict[str, Any] = {"phase": phase, "samples": len(times["ping"])}
    for name, values in times.items():
        out[name] = {
            "p50_ms": round(statistics.median(values), 2),
            "p95_ms": round(_pct(values, 0.95), 2),
            "max_ms": round(max(values), 2),
            "p50_vs_ping": round(statistics.median(values) / ping_p50, 1),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=50000)
    parser.add_argument("--profile", choices=["tiny", "small", "large", "mixed"], default="tiny")
    parser.add_argument("--idle-rounds", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mediaforged-bench-control"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    tree = args.workdir / "tree"
    tree.mkdir(parents=True)
    files, size = generate(tree, args.files, args.profile)
    proc, sock = _start(tree, args.workdir)
    try:
        began = time.monotonic()
        busy = measure(sock, while_busy=True, rounds=0)
        import_s = time.monotonic() - began
        idle = measure(sock, while_busy=False, rounds=args.idle_rounds)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(sock.parent, ignore_errors=True)
    results = {
        "files": files,
        "bytes": size,
        "import_s": round(import_s, 1),
        "while_cataloging": report("while cataloging", busy),
        "idle": report("idle", idle),
    }
    status_p95 = results["while_cataloging"]["status"]["p95_ms"]
    results["status_p95_target_ms"] = TARGET_STATUS_P95_MS
    results["status_p95_met"] = status_p95 < TARGET_STATUS_P95_MS
    if args.json:
        print(json.dumps(results))
        return 0
    print(
        f"{files} files ({size / 1e6:.0f} MB) catalogued (hashes, metadata, thumbnails) "
        f"in {import_s:.1f}s while measuring"
    )
    for phase in ("while_cataloging", "idle"):
        r = results[phase]
        print(f"{r['phase']} ({r['samples']} rounds):")
        for name in REQUESTS:
            m = r[name]
            print(
                f"  {name:<7} p50 {m['p50_ms']:7.2f} ms  p95 {m['p95_ms']:7.2f} ms  "
                f"max {m['max_ms']:7.2f} ms  "
                f"p50 = {m['p50_vs_ping']:.1f} x ping"
            )
    verdict = "met" if results["status_p95_met"] else "MISSED"
    print(f"status p95 while cataloging: {status_p95:.1f} ms (target < 50 ms: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
