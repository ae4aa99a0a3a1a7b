"""The quick reconcile's cost on an idle watched library: can it run every minute?

    python bench/bench_quick.py                    # 50,000 files (tiny), 60 s per phase
    python bench/bench_quick.py --files 100000 --seconds 120 --json

The library is catalogued once; then, with nothing changing, the daemon idles for
``--seconds`` twice on the same catalog: without quick reconciles (the baseline) and with
one every 5 s. Reported: each quick reconcile's own duration (its ``reconcile_finished``
debug line), the daemon's CPU seconds per phase, and from them the CPU a quick reconcile
costs and what it adds per hour at the default interval.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_watch import Daemon
from gen_library import generate

INTERVAL = 5.0


def _phase(work: Path, root: Path, quick: float, seconds: float) -> dict[str, Any]:
    daemon = Daemon(work, root, quick_reconcile_interval=quick, log_level="debug")
    daemon.start()
    daemon.wait_idle()
    log = work / "daemon.log"
    skip = len(log.read_bytes().splitlines())
    cpu0 = daemon.cpu_seconds()
    time.sleep(seconds)
    cpu = daemon.cpu_seconds() - cpu0
    daemon.stop()
    durations = []
    for line in log.read_bytes().splitlines()[skip:]:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "reconcile_finished" and event.get("quick"):
            durations.append(float(event["duration_s"]))
    return {"cpu_s": round(cpu, 3), "quick_durations_s": durations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mf-quick-") as tmp:
        root = Path(tmp) / "library"
        generate(root, args.files, "tiny")
        folders = sum(1 for p in root.rglob("*") if p.is_dir()) + 1
        work = Path(tmp) / "daemon"
        first = Daemon(work, root)  # catalogue it once
        first.start()
        first.wait_idle()
        first.stop()
        baseline = _phase(work, root, 0.0, args.seconds)
        quick = _phase(work, root, INTERVAL, args.seconds)
    runs = len(quick["quick_durations_s"]) or 1
    per_quick = max(0.0, quick["cpu_s"] - baseline["cpu_s"]) / runs
    result = {
        "files": args.files,
        "folders": folders,
        "seconds_per_phase": args.seconds,
        "idle_cpu_s_without_quick": baseline["cpu_s"],
        "idle_cpu_s_with_quick_every_5s": quick["cpu_s"],
        "quick_reconciles": len(quick["quick_durations_s"]),
        "quick_duration_s_median": round(statistics.median(quick["quick_durations_s"] or [0]), 3),
        "quick_duration_s_max": max(quick["quick_durations_s"] or [0]),
        "cpu_s_per_quick": round(per_quick, 3),
        "cpu_s_per_hour_at_60s": round(per_quick * 60, 2),
        "cpu_s_per_hour_at_600s": round(per_quick * 6, 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key:34} {value}")


if __name__ == "__main__":
    main()
