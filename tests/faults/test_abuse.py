"""Socket abuse: garbage, huge lines, crowds and slow clients, while another client's
`status` keeps answering fast, memory stays flat and the watchdog stays fed."""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Daemon, as_nobody
from tests.faults.conftest import tree
from tests.rawclient import RawClient

OPEN: list[RawClient] = []  # every client made, closed at the end of the test


def _connect(path: Path) -> RawClient:
    client = RawClient(path, timeout=30)
    OPEN.append(client)
    assert client.hello["hello"] == "mediaforged"
    return client


def _close_all() -> None:
    while OPEN:
        OPEN.pop(0).close()


def _status_once(path: Path) -> float:
    t = time.monotonic()
    with RawClient(path, timeout=30) as client:
        assert client.hello["hello"] == "mediaforged"
        assert client.send(b'{"id": 1, "cmd": "status"}\n')["ok"] is True
    return time.monotonic() - t


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _bad_lines(path: Path, tally: Counter[str]) -> None:
    # Malformed input on one connection: each line gets its error, the connection lives.
    client = _connect(path)
    cases = {
        b"this is not json\n": "bad_json",
        b"[1, 2, 3]\n": "bad_request",
        b'{"id": 2, "cmd": "self-destruct"}\n': "unknown_command",
        b'{"id": 3, "cmd": "rescan", "args": {"path": 42}}\n': "bad_request",
        b'{"id": {"no": 1}, "cmd": "status"}\n': "bad_request",
        b'{"id": 4, "cmd": "status", "args": []}\n': "bad_request",
        b'{"id": 5, "cmd": "rescan", "args": {"path": "/etc"}}\n': "not_in_library",
    }
    for line, code in cases.items():
        assert client.send(line)["error"]["code"] == code, line
        tally["faults"] += 1

    # Random bytes, and a 10 MiB line: refused, and the daemon goes on.
    rng = random.Random(3)
    for _ in range(20):
        _connect(path).write(rng.randbytes(4096) + b"\n")
        tally["faults"] += 1
    big = _connect(path)
    try:
        big.write(b'{"id": 9, "cmd": "status", "pad": "' + b"x" * (10 << 20) + b'"}\n')
        reply = big.readline()
        assert not reply or json.loads(reply)["error"]["code"] == "too_large"
    except (BrokenPipeError, ConnectionResetError):
        pass  # cut off mid-line: refused just as well
    tally["faults"] += 1


def _deaf_slow_and_crowds(path: Path, library: Path, tally: Counter[str]) -> None:
    # A subscriber that follows the change stream and never reads it, while changes pour in.
    deaf = _connect(path)
    deaf.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    deaf.write(b'{"id": 7, "cmd": "events", "args": {"since": 0, "follow": true}}\n')
    list(tree(library / "changes", 20, 100))
    tally["faults"] += 1

    # 50 slow clients (a byte every few seconds) and 200 clients at once.
    slow = [_connect(path) for _ in range(50)]
    tally["faults"] += 50

    def crowd() -> None:
        assert _status_once(path) < 30

    threads = [threading.Thread(target=crowd) for _ in range(200)]
    for t in threads:
        t.start()
    for i in range(3):
        for s in slow:
            s.write(b"{"[:1] if i == 0 else b" ")
        time.sleep(3)
    for t in threads:
        t.join()
    tally["faults"] += 200
    _close_all()  # the slow clients and the deaf subscriber go, too


def test_abuse_while_status_keeps_answering(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    list(tree(library, 5, 20))
    daemon = daemon_factory([library])
    daemon.env["WATCHDOG_USEC"] = "1000000"
    daemon.start()
    daemon.wait_idle()
    assert daemon.proc is not None
    path = daemon.socket
    for _ in range(20):  # warm up: the first answers pay for imports and caches
        _status_once(path)
    rss_before = _rss_kib(daemon.proc.pid)

    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:  # another client, connected before the abuse starts
        with RawClient(path, timeout=30) as client:
            while not stop.is_set():
                t = time.monotonic()
                assert client.send(b'{"id": 1, "cmd": "status"}\n')["ok"] is True
                latencies.append(time.monotonic() - t)
                time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    began = time.monotonic()
    pings_before = daemon.count_notified("WATCHDOG=1", 0)

    _bad_lines(path, tally)
    _deaf_slow_and_crowds(path, library, tally)

    stop.set()
    prober.join()
    took = time.monotonic() - began
    p99 = statistics.quantiles(latencies, n=100)[98]
    rss_after = _rss_kib(daemon.proc.pid)
    pings = daemon.count_notified("WATCHDOG=1", 0) - pings_before
    print(
        f"status during abuse: {len(latencies)} calls, p50 {statistics.median(latencies) * 1e3:.1f}"
        f" ms, p99 {p99 * 1e3:.1f} ms; RSS {rss_before // 1024} -> {rss_after // 1024} MiB;"
        f" {pings} watchdog pings in {took:.1f}s"
    )
    # Latency is measured in bench/ (a shared CI machine makes it noise here); what must hold
    # is that every status was answered (the probe's asserts) and the loop never stalled.
    assert len(latencies) > 10, "status was barely answered under abuse"
    assert rss_after - rss_before < 64 * 1024, "memory grew under abuse"
    assert pings >= 2 * int(took) - 3  # WATCHDOG_USEC=1 s: a ping every half second
    assert os.path.exists(path) and daemon.proc.poll() is None
    assert daemon.stop() == 0


def test_deep_nesting_and_nul_bytes_are_bad_requests(
    daemon_factory: Callable[..., Daemon], library: Path, short_tmp: Path, tally: Counter[str]
) -> None:
    (library / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0" * 10)
    daemon = daemon_factory([library], socket_mode="0666").start()
    daemon.wait_idle()
    client = _connect(daemon.socket)
    # 400,000 brackets (under MAX_LINE) blew the parser's recursion limit: `internal`, and a
    # traceback in the log for every such line.
    for nested in (b"[" * 400_000, b'{"id": 1, "cmd": "info", "args": {"path": ' + b"[" * 50_000):
        for _ in range(10):
            reply = client.send(nested + b"\n")
            assert reply["error"]["code"] == "bad_json", reply
            assert "nested" in reply["error"]["message"]
            tally["faults"] += 1
    # A NUL byte in a path: `why` answered `internal`, and a rescan's job died of it.
    for bad_path, says in ((f"{library}/a\x00.jpg", "NUL"), (f"{library}/\ud800", "surrogate")):
        _bad_paths(client, bad_path, says, tally)
    reply = client.request({"id": 3, "cmd": "rescan", "args": {"path": str(library)}})
    assert reply["ok"] and reply["result"]["errors"] == []
    assert daemon.status()["roots"][0]["items"] == 1
    _close_all()

    # One peer's errors are logged the first few times a minute, then only counted: a
    # read-only client asking `pause` 40 times gets 40 answers and leaves a few log lines.
    os.chmod(short_tmp, 0o755)
    os.chmod(daemon.workdir, 0o755)

    def pause_as_nobody() -> list[str]:
        with RawClient(daemon.socket) as nobody:
            pause = b'{"id": 4, "cmd": "pause"}\n'
            return [nobody.send(pause)["error"]["code"] for _ in range(40)]

    assert as_nobody(pause_as_nobody) == ["forbidden"] * 40
    events = daemon.log_events()
    assert not [e for e in events if e.get("event") == "command_failed"]
    forbidden = [e for e in events if e.get("event") == "command_forbidden"]
    assert 1 <= len(forbidden) <= 5, len(forbidden)
    limited = [e for e in events if e.get("event") == "peer_log_limited"]
    assert limited and limited[0]["uid"] == 65534
    assert daemon.stop() == 0


def _bad_paths(client: RawClient, bad_path: str, says: str, tally: Counter[str]) -> None:
    for cmd in ("why", "info", "rescan", "retry", "tag.list", "tag.add"):
        args: dict[str, Any] = {"path": bad_path}
        if cmd == "tag.add":
            args = {"paths": [bad_path], "tag": "x"}
        reply = client.request({"id": 2, "cmd": cmd, "args": args})
        assert reply["error"]["code"] == "bad_request", (cmd, reply)
        assert says in reply["error"]["message"], reply
        tally["faults"] += 1
