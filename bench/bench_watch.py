"""Watching: event-to-catalog latency, idle CPU, and a 50,000-file storm, with same-run baselines.

    python bench/bench_watch.py                 # everything (about 6 minutes)
    python bench/bench_watch.py --only latency  # or: idle, storm

- latency: a file is written and closed, then the catalog is polled (read-only SQLite, the
  same read `mediaforgectl` makes) until the file is present; p50 and p95 with
  settle_seconds = 0 and at its default (3 s). Baseline, same run and files: watchfiles
  alone in this process with the daemon's debounce, i.e. when the kernel event arrives.
- idle: CPU seconds (user + system, the daemon and its hashing workers) over 60 s of idle
  watching of a 100,000-file library (target: under 0.5 s).
- storm: 50,000 files created by four threads while the daemon watches; time until all
  are catalogued, against ``mediaforged --once`` (cold catalog) on the same files in the
  same run; the daemon's peak RSS (VmHWM) during the storm.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_library import generate
from watchfiles import watch

from mediaforged.cli.main import Client

TICKS = os.sysconf("SC_CLK_TCK")


class Daemon:
    def __init__(self, work: Path, root: Path, **settings: Any) -> None:
        self.work, self.root = work, root
        work.mkdir(parents=True, exist_ok=True)
        self.socket = work / "d.sock"
        self.db = work / "state" / "catalog.db"
        config = {
            "roots": [str(root)],
            "state_dir": str(work / "state"),
            "socket_path": str(self.socket),
            "http_listen": "",
            **settings,
        }
        self.config = work / "mediaforge.toml"
        self.config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items()))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        notify = self.work / "n.sock"
        notify.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(notify))
        env = {**os.environ, "NOTIFY_SOCKET": str(notify), "MEDIAFORGE_LOG_FORMAT": "json"}
        log = open(self.work / "daemon.log", "ab")  # noqa: SIM115 - lives as long as the daemon
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mediaforged", "--config", str(self.config), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        if not extra:
            sock.settimeout(60)
            while b"READY=1" not in sock.recv(65536):
                pass
        sock.close()
        return self.proc

    def status(self) -> dict[str, Any]:
        client = Client(self.socket, 60)
        try:
            result: dict[str, Any] = client.call("status")
            return result
        finally:
            client.close()

    def wait_idle(self) -> None:
        while True:
            s = self.status()
            p = s["pending"]
            busy = [k for k, v in p.items() if v] or [j for j in s["jobs"] if not j["complete"]]
            if not busy and s["state"] not in ("starting", "scanning"):
                return
            time.sleep(0.5)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)

    def cpu_seconds(self) -> float:
        """User + system CPU of the daemon and its live children (the hashing workers)."""
        assert self.proc is not None
        total = 0.0
        pids = [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / TICKS
        return total

    def peak_rss_mib(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM")

    def present(self, key: bytes | None = None) -> int:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            if key is None:
                sql, args = "SELECT count(*) FROM media_items WHERE status = 'present'", ()
            else:
                sql = "SELECT count(*) FROM media_items WHERE path_key = ? AND status = 'present'"
                args = (key,)
            return int(conn.execute(sql, args).fetchone()[0])
        except sqlite3.OperationalError:
            return 0
        finally:
            conn.close()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _watchfiles_latency(root: Path, samples: int, debounce_ms: int) -> list[float]:
    """When the kernel event reaches a watchfiles consumer with the daemon's debounce."""
    seen: dict[str, float] = {}
    stop = threading.Event()
    ready = threading.Event()

    def consume() -> None:
        for changes in watch(
            root, debounce=debounce_ms, step=50, stop_event=stop, yield_on_timeout=True
        ):
            ready.set()
            now = time.perf_counter()
            for _change, path in changes:
                seen.setdefault(path, now)

    thread = threading.Thread(target=consume)
    thread.start()
    ready.wait(10)
    out = []
    for i in range(samples):
        path = root / f"base-{i}.jpg"
        path.write_bytes(f"baseline {i}".encode() * 10)
        t = time.perf_counter()
        while str(path) not in seen:
            time.sleep(0.002)
        out.append(seen[str(path)] - t)
    stop.set()
    thread.join()
    return out


def latency(work: Path, samples: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for settle in (0.0, 3.0):
        root = work / f"lat-{settle}"
        root.mkdir(parents=True)
        daemon = Daemon(work / f"lat-d-{settle}", root, settle_seconds=settle)
        daemon.start()
        daemon.wait_idle()
        values = []
        n = samples if settle == 0 else max(5, samples // 3)
        for i in range(n):
            path = root / f"photo-{i}.jpg"
            path.write_bytes(f"latency sample {i}".encode() * 100)
            t = time.perf_counter()
            key = os.fsencode(path)
            while not daemon.present(key):
                time.sleep(0.005)
            values.append(time.perf_counter() - t)
        daemon.stop()
        out[f"settle_{settle:g}s"] = {
            "samples": n,
            "p50_s": round(_pct(values, 0.5), 3),
            "p95_s": round(_pct(values, 0.95), 3),
        }
    base_root = work / "lat-base"
    base_root.mkdir()
    base = _watchfiles_latency(base_root, samples, 200)
    out["baseline_watchfiles"] = {
        "samples": len(base),
        "p50_s": round(_pct(base, 0.5), 3),
        "p95_s": round(_pct(base, 0.95), 3),
    }
    out["ratio_p50_settle_0_vs_baseline"] = round(
        out["settle_0s"]["p50_s"] / out["baseline_watchfiles"]["p50_s"], 2
    )
    return out


def idle(work: Path, files: int, seconds: float) -> dict[str, Any]:
    root = work / "idle-lib"
    generate(root, files, "tiny")
    daemon = Daemon(work / "idle-d", root)
    daemon.start()
    daemon.wait_idle()
    time.sleep(2)  # let the last metadata batch and checkpoints pass
    before = daemon.cpu_seconds()
    time.sleep(seconds)
    used = daemon.cpu_seconds() - before
    watches = daemon.status()["inotify"]
    daemon.stop()
    return {
        "files": files,
        "seconds": seconds,
        "cpu_s": round(used, 3),
        "target_cpu_s": 0.5,
        "inotify_watches": watches["watches"],
    }


def storm(work: Path, files: int, runs: int) -> dict[str, Any]:
    results = []
    per_dir = 500
    for run in range(runs):
        root = work / f"storm-{run}"
        root.mkdir()
        daemon = Daemon(work / f"storm-d-{run}", root)
        daemon.start()
        daemon.wait_idle()

        def write(start: int, root: Path = root) -> None:
            for d in range(start, files // per_dir, 4):
                folder = root / f"burst{d:03d}"
                folder.mkdir()
                for i in range(per_dir):
                    (folder / f"f{i:05d}.jpg").write_bytes(f"{d}/{i}".encode().ljust(32, b"."))

        t = time.perf_counter()
        writers = [threading.Thread(target=write, args=(i,)) for i in range(4)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        written = time.perf_counter() - t
        while daemon.present() < files:
            time.sleep(0.1)
        storm_s = time.perf_counter() - t
        rss = daemon.peak_rss_mib()
        daemon.stop()

        cold = Daemon(work / f"storm-cold-{run}", root)
        t = time.perf_counter()
        cold.start("--once").wait(600)
        cold_s = time.perf_counter() - t
        results.append(
            {"written_s": written, "storm_s": storm_s, "cold_s": cold_s, "peak_rss_mib": rss}
        )
        shutil.rmtree(root)

    def med(key: str) -> float:
        return round(statistics.median(r[key] for r in results), 2)

    return {
        "files": files,
        "runs": [{k: round(v, 2) for k, v in r.items()} for r in results],
        "median_storm_s": med("storm_s"),
        "median_cold_once_s": med("cold_s"),
        "ratio_storm_vs_cold": round(med("storm_s") / med("cold_s"), 2),
        "median_peak_rss_mib": med("peak_rss_mib"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["latency", "idle", "storm"])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--idle-files", type=int, default=100_000)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--storm-files", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mfw", dir="/tmp"))
    report: dict[str, Any] = {"cpus": os.cpu_count()}
    try:
        if args.only in (None, "latency"):
            report["latency"] = latency(work, args.samples)
            print(json.dumps(report["latency"]), flush=True)
        if args.only in (None, "idle"):
            report["idle"] = idle(work, args.idle_files, args.idle_seconds)
            print(json.dumps(report["idle"]), flush=True)
        if args.only in (None, "storm"):
            report["storm"] = storm(work, args.storm_files, args.runs)
            print(json.dumps(report["storm"]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "watch.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
