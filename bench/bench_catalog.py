"""Catalog speed against baselines measured in the same run, on the same tree.

    python bench/bench_catalog.py --files 100000 --profile tiny
    python bench/bench_catalog.py --files 400 --profile large

- hashing floor: one Python process walks the tree and SHA-256s every file with hashlib,
  single-threaded, 1 MiB reads (page cache warmed first, as for the daemon);
- cold catalog: ``mediaforged --once`` on an empty state dir (walk, hash, type, commit);
- warm reconcile: the same command again, nothing changed, against
  ``find ROOT -type f -printf '%s %T@\\n'``;
- peak RSS of the daemon process (ru_maxrss from wait4; its hashing workers are separate).

The daemon's own ``reconcile_finished`` log line gives its files and duration (start-up and
migrations excluded; the process wall time is reported too). Runs are repeated and the
median is reported with every value; ratios compare medians from this run only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_library import generate

FLOOR_SCRIPT = r"""
import hashlib, os, sys, time
def run(root):
    n = 0
    size = 0
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            h = hashlib.sha256()
            with open(os.path.join(dirpath, name), "rb", buffering=0) as f:
                while True:
                    k = f.readinto(view)
                    if not k:
                        break
                    h.update(view[:k])
                    size += k
            h.hexdigest()
            n += 1
    return n, size
run(sys.argv[1])  # warm the page cache
t = time.perf_counter()
n, size = run(sys.argv[1])
print(n, size, time.perf_counter() - t)
"""

TARGETS = {
    ("cold", "large"): 0.8,
    ("cold", "small"): 0.3,
    ("cold", "tiny"): 0.3,
    ("cold", "mixed"): 0.3,
    ("warm", None): 1 / 3,
}


def hashing_floor(tree: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", FLOOR_SCRIPT, str(tree)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    files, size, seconds = int(out[0]), int(out[1]), float(out[2])
    return {"files_per_s": files / seconds, "mb_per_s": size / seconds / 1e6, "seconds": seconds}


def find_baseline(tree: Path) -> dict[str, float]:
    cmd = ["find", str(tree), "-type", "f", "-printf", "%s %T@\n"]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)  # warm
    began = time.perf_counter()
    result = subprocess.run(cmd, stdout=subprocess.PIPE, check=True)
    seconds = time.perf_counter() - began
    files = result.stdout.count(b"\n")
    return {"files_per_s": files / seconds, "seconds": seconds}


def run_daemon(tree: Path, state: Path) -> dict[str, Any]:
    """One ``mediaforged --once``; its reconcile figures, wall time and peak RSS."""
    socket_dir = Path(tempfile.mkdtemp(prefix="mfb", dir="/tmp"))
    cmd = [
        sys.executable,
        "-m",
        "mediaforged",
        "--once",
        "--root",
        str(tree),
        "--state-dir",
        str(state),
        "--socket",
        str(socket_dir / "s.sock"),
        "--log-format",
        "json",
    ]
    began = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        lines = log.read().decode(errors="replace").splitlines()
    shutil.rmtree(socket_dir, ignore_errors=True)
    finished = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "reconcile_finished":
            finished.append(event)
    if proc.returncode != 0 or not finished:
        tail = "\n".join(lines[-20:])
        raise SystemExit(f"mediaforged failed (exit {proc.returncode}):\n{tail}")
    files = sum(e["files_seen"] for e in finished)
    seconds = sum(e["duration_s"] for e in finished)
    return {
        "files": files,
        "indexed": sum(e["files_indexed"] for e in finished),
        "seconds": seconds,
        "files_per_s": files / seconds if seconds else float("inf"),
        "wall_s": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--profile", choices=["tiny", "small", "large", "mixed"], default="tiny")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mediaforged-bench"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    tree = args.workdir / f"{args.profile}-{args.files}-{args.seed}"
    marker = args.workdir / f"{tree.name}.done"
    if not marker.exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        print(f"generating {args.files} {args.profile} files in {tree}", file=sys.stderr)
        generate(tree, args.files, args.profile, args.seed)
        marker.touch()

    floors, finds, colds, warms = [], [], [], []
    for i in range(args.repeat):
        print(f"run {i + 1}/{args.repeat}", file=sys.stderr)
        state = Path(tempfile.mkdtemp(prefix="state-", dir=args.workdir))
        try:
            floors.append(hashing_floor(tree))
            colds.append(run_daemon(tree, state))
            finds.append(find_baseline(tree))
            warms.append(run_daemon(tree, state))
        finally:
            shutil.rmtree(state, ignore_errors=True)

    cold = _median(colds, "files_per_s")
    floor = _median(floors, "files_per_s")
    warm = _median(warms, "files_per_s")
    find = _median(finds, "files_per_s")
    report = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "files": args.files,
        "profile": args.profile,
        "repeat": args.repeat,
        "cold": {
            "files_per_s": cold,
            "floor_files_per_s": floor,
            "floor_mb_per_s": _median(floors, "mb_per_s"),
            "ratio": cold / floor,
            "target": TARGETS[("cold", args.profile)],
            "runs": colds,
            "floor_runs": floors,
        },
        "warm": {
            "files_per_s": warm,
            "find_files_per_s": find,
            "ratio": warm / find,
            "target": TARGETS[("warm", None)],
            "runs": warms,
            "find_runs": finds,
        },
        "peak_rss_mib": {
            "cold": _median(colds, "peak_rss_mib"),
            "warm": _median(warms, "peak_rss_mib"),
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    c, w = report["cold"], report["warm"]
    print(f"{args.files} files, profile {args.profile}, {args.repeat} runs (medians)")
    print(f"{'':24}{'mediaforged':>14}{'baseline':>14}{'ratio':>8}{'target':>8}")
    print(
        f"{'cold catalog files/s':24}{c['files_per_s']:>14.0f}{c['floor_files_per_s']:>14.0f}"
        f"{c['ratio']:>8.2f}{c['target']:>8.2f}   baseline: hashlib, 1 thread "
        f"({c['floor_mb_per_s']:.0f} MB/s)"
    )
    print(
        f"{'warm reconcile files/s':24}{w['files_per_s']:>14.0f}{w['find_files_per_s']:>14.0f}"
        f"{w['ratio']:>8.2f}{w['target']:>8.2f}   baseline: find -printf"
    )
    print(
        f"peak RSS of the daemon: {report['peak_rss_mib']['cold']:.0f} MiB cold, "
        f"{report['peak_rss_mib']['warm']:.0f} MiB warm"
    )
    print("per run, cold files/s: " + ", ".join(f"{r['files_per_s']:.0f}" for r in colds))
    print("per run, warm files/s: " + ", ".join(f"{r['files_per_s']:.0f}" for r in warms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
