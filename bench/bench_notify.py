"""Notify targets against the stand-in media servers of the tests (tests/system/mediaservers.py).

Not a test: it reports figures, it asserts nothing.

- latency: 100 files, each in a folder of its own, written one after the other; for each, the
  time from its change-log event (the file settled, was hashed and committed) to the webhook
  request that names it, p50/p95, and the same less the target's ``debounce`` (aim: p95 < 1 s);
- batching: 1,000 new files in 10 folders, written at once: how many requests the webhook got,
  per folder and per debounce window the files' events spanned (aim: <= 1 per folder per
  window);
- throughput: ``mediaforged --once`` on the same fresh tree with 3 targets (jellyfin, plex,
  webhook) and a plugin configured, against none, alternating runs; files/s of the catalog's
  own reconcile and the ratio of the medians (aim: >= 0.95).

    python bench/bench_notify.py [--files 5000] [--runs 3] [--debounce 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the stand-in servers live with the tests

from bench.daemonproc import start_daemon  # noqa: E402
from tests.system.mediaservers import TOKEN, Servers, serve  # noqa: E402

PLUGIN = "class Quiet:\n    def on_event(self, event):\n        pass\n"


def _toml_targets(targets: list[dict[str, Any]]) -> str:
    out = []
    for target in targets:
        out.append("[[targets]]")
        for key, value in target.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items())
                out.append(f"{key} = {{ {inner} }}")
            else:
                out.append(f"{key} = {json.dumps(value)}")
    return "\n".join(out) + "\n"


def _wait(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def _hook_events(servers: Servers) -> list[tuple[float, dict[str, Any]]]:
    return [(g.at, e) for g in servers.of("hook") for e in g.json()["events"]]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(share * (len(ordered) - 1)), len(ordered) - 1)]


def live(work: Path, debounce: float) -> dict[str, Any]:
    """Latency over 100 files, and the requests 1,000 files in 10 folders make."""
    servers = Servers()
    httpd, url = serve(servers)
    tree = work / "live"
    tree.mkdir()
    target = {"name": "hook", "kind": "webhook", "url": f"{url}/hook", "token": "s",
              "debounce": debounce}  # fmt: skip
    extra = "settle_seconds = 0.2\nthumbnail_size = 0\n" + _toml_targets([target])
    proc, _sock = start_daemon(tree, work, work / "d.sock", extra)
    try:
        time.sleep(2)  # the target has its cursor before the files come
        written = {}
        for i in range(100):
            path = tree / f"solo{i:03d}" / "f.dat"
            path.parent.mkdir()
            path.write_bytes(b"file %d" % i)
            written[str(path)] = time.time()
            time.sleep(0.05)
        got = _wait(
            lambda: (
                (e := _hook_events(servers)) and {x["path"] for _, x in e} >= set(written) and e
            ),
            120,
            "the 100 files told",
        )
        since_event, since_write = [], []
        for at, event in got:
            if event["path"] in written:
                since_event.append(at - datetime.fromisoformat(event["at"]).timestamp())
                since_write.append(at - written[event["path"]])
        before = len(servers.of("hook"))
        folders = [tree / f"batch{j}" for j in range(10)]
        for folder in folders:
            folder.mkdir()
        for i in range(1000):
            (folders[i % 10] / f"{i:04d}.dat").write_bytes(b"batch %d" % i)
        want = {str(folders[i % 10] / f"{i:04d}.dat") for i in range(1000)}
        _wait(lambda: {e["path"] for _, e in _hook_events(servers)} >= want, 180, "the 1,000")
        time.sleep(debounce * 2)  # any late request would count too
        batch = servers.of("hook")[before:]
        stamps = [
            datetime.fromisoformat(e["at"]).timestamp() for g in batch for e in g.json()["events"]
        ]
        windows = max(1, int((max(stamps) - min(stamps)) // debounce) + 1)
    finally:
        proc.terminate()
        proc.wait(60)
        httpd.shutdown()
    per_folder: dict[str, int] = {}
    for g in batch:
        per_folder[g.json()["folder"]] = per_folder.get(g.json()["folder"], 0) + 1
    return {
        "debounce_s": debounce,
        "latency_p50_s": _percentile(since_event, 0.5),
        "latency_p95_s": _percentile(since_event, 0.95),
        "after_debounce_p50_s": _percentile(since_event, 0.5) - debounce,
        "after_debounce_p95_s": _percentile(since_event, 0.95) - debounce,
        "from_write_p50_s": _percentile(since_write, 0.5),
        "from_write_p95_s": _percentile(since_write, 0.95),
        "batch_requests": len(batch),
        "batch_folders": len(per_folder),
        "batch_windows": windows,
        "requests_per_folder_per_window": len(batch) / (len(per_folder) * windows),
    }


def _once(tree: Path, work: Path, extra: str, env: dict[str, str]) -> float:
    """One ``mediaforged --once`` on a fresh state: files/s of its reconcile."""
    state = work / "state"
    shutil.rmtree(state, ignore_errors=True)
    sock_dir = Path(tempfile.mkdtemp(prefix="mfn", dir="/tmp"))
    config = work / "once.toml"
    config.write_text(
        f"roots = [{json.dumps(str(tree))}]\nstate_dir = {json.dumps(str(state))}\n"
        f'socket_path = {json.dumps(str(sock_dir / "s.sock"))}\nhttp_listen = ""\n'
        "thumbnail_size = 0\n" + extra
    )
    cmd = [sys.executable, "-m", "mediaforged", "--once", "--config", str(config),
           "--log-format", "json"]  # fmt: skip
    out = subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, check=False, timeout=1800
    )
    shutil.rmtree(sock_dir, ignore_errors=True)
    events = []
    for line in out.stdout.decode(errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    done = [e for e in events if e.get("event") == "reconcile_finished"]
    if out.returncode != 0 or not done:
        raise SystemExit(f"mediaforged --once failed ({out.returncode}): {events[-5:]}")
    return sum(e["files_seen"] for e in done) / sum(e["duration_s"] for e in done)


def throughput(work: Path, files: int, runs: int) -> dict[str, Any]:
    tree = work / "tree"
    for i in range(files):
        folder = tree / f"d{i % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:06d}.dat").write_bytes(os.urandom(2048))
    servers = Servers(plex_locations=[str(tree)])
    httpd, url = serve(servers)
    site = work / "site"
    dist = site / "mfquiet-0.1.dist-info"
    dist.mkdir(parents=True)
    (site / "mfquiet.py").write_text(PLUGIN)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mfquiet\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mediaforged.plugins]\nquiet = mfquiet:Quiet\n")
    targets = [
        {"name": "jf", "kind": "jellyfin", "url": f"{url}/jf", "token": TOKEN, "debounce": 1},
        {"name": "plex", "kind": "plex", "url": f"{url}/plex", "token": TOKEN, "debounce": 1},
        {"name": "hook", "kind": "webhook", "url": f"{url}/hook", "token": "s", "debounce": 1},
    ]
    plain = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    with_plugin = {**plain, "PYTHONPATH": f"{site}:{plain.get('PYTHONPATH', '')}"}
    none, notified = [], []
    try:
        for _ in range(runs):
            none.append(_once(tree, work, "", plain))
            notified.append(_once(tree, work, _toml_targets(targets), with_plugin))
    finally:
        httpd.shutdown()
    base, with_ = statistics.median(none), statistics.median(notified)
    return {
        "files": files,
        "none_files_per_s": none,
        "notify_files_per_s": notified,
        "ratio": with_ / base,
        "requests_seen": len(servers.got),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000, help="files of the throughput tree")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--debounce", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mf-bench-notify-"))
    try:
        result = {**live(work, args.debounce), **throughput(work, args.files, args.runs)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"latency, event -> request (debounce {result['debounce_s']:g} s, 100 files):")
    print(f"  p50 {result['latency_p50_s']:.3f} s, p95 {result['latency_p95_s']:.3f} s;"
          f" after the debounce p50 {result['after_debounce_p50_s']:.3f} s,"
          f" p95 {result['after_debounce_p95_s']:.3f} s (aim < 1 s)")  # fmt: skip
    print(
        f"  from the write: p50 {result['from_write_p50_s']:.3f} s,"
        f" p95 {result['from_write_p95_s']:.3f} s (settle, hash, commit, debounce, send)"
    )
    print(f"1,000 files in 10 folders: {result['batch_requests']} requests for"
          f" {result['batch_folders']} folders over {result['batch_windows']} debounce"
          f" window(s): {result['requests_per_folder_per_window']:.2f} per folder per window"
          " (aim <= 1)")  # fmt: skip
    pairs = zip(result["none_files_per_s"], result["notify_files_per_s"], strict=True)
    runs = ", ".join(f"{a:.0f}/{b:.0f}" for a, b in pairs)
    print(
        f"throughput ({result['files']} files, none/3 targets + plugin, files/s): {runs};"
        f" ratio of medians {result['ratio']:.3f} (aim >= 0.95)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
