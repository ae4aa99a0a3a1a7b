"""The control channel's safety: hello, argument checks, who may change things, idle
connections, the client cap, and 100 clients at once, against a real daemon."""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mediaforged.cli.main import Client, CommandFailed, DaemonUnavailable
from mediaforged.cli.main import main as ctl_main
from tests.conftest import Daemon, as_nobody, wait_for
from tests.crowd import Channel, Nobody
from tests.rawclient import RawClient


def test_hello_arguments_and_error_codes(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    daemon = daemon_factory([library], log_level="debug").start()  # connections are debug
    client = RawClient(daemon.socket)
    assert client.hello == {
        "hello": "mediaforged",
        "version": "0.1.0",
        "protocol": 1,
        "access": "full",  # the test runs as root
    }
    reply = client.request({"id": 1, "cmd": "hello", "args": {"protocol": 1, "client": "t"}})
    assert reply["id"] == 1 and reply["ok"] is True
    assert {"status", "rescan", "hello"} <= set(reply["result"]["commands"])
    reply = client.request({"id": 2, "cmd": "hello", "args": {"protocol": 2}})
    assert reply["error"]["code"] == "unsupported_protocol"
    assert "speaks protocol 1" in reply["error"]["message"]

    bad = [
        ({"id": 3, "cmd": "rescan", "args": {"paht": "/x"}}, "does not take paht"),
        ({"id": 4, "cmd": "rescan", "args": {"full": "yes"}}, "full must be true or false"),
        ({"id": 5, "cmd": "pause", "args": {"root": ["a"]}}, "root must be a string"),
        ({"id": 6, "cmd": "hello", "args": {"protocol": True}}, "protocol must be an integer"),
        ({"id": 7, "cmd": "status", "args": {"verbose": 1}}, "takes: no arguments"),
        ({"id": 8, "cmd": ""}, "cmd must be a string"),
    ]
    for message, text in bad:
        reply = client.request(message)
        assert reply["id"] == message["id"] and reply["ok"] is False
        assert reply["error"]["code"] == "bad_request" and text in reply["error"]["message"]
    reply = client.request({"id": "x", "cmd": "rescan", "args": {"path": "/elsewhere"}})
    assert reply["error"]["code"] == "not_in_library"
    client.close()

    # Every connection is logged (at debug) with the peer's credentials.
    connected = [e for e in daemon.log_events() if e.get("event") == "client_connected"]
    assert connected and connected[0]["uid"] == 0 and connected[0]["pid"] > 0
    assert connected[0]["access"] == "full"
    assert daemon.stop() == 0


def _open_socket(daemon: Daemon, short_tmp: Path) -> None:
    os.chmod(short_tmp, 0o755)
    os.chmod(daemon.workdir, 0o755)


def test_others_may_only_query(
    daemon_factory: Callable[..., Daemon], library: Path, short_tmp: Path
) -> None:
    daemon = daemon_factory([library], socket_mode="0666").start()
    _open_socket(daemon, short_tmp)
    daemon.wait_idle()

    def try_as_nobody() -> tuple[str, dict[str, Any], str]:
        client = Client(daemon.socket)
        try:
            access = client.hello["access"]
            status = client.call("status")
            try:
                client.call("pause")
            except CommandFailed as exc:
                return access, status, exc.code
            return access, status, "allowed"
        finally:
            client.close()

    access, status, outcome = as_nobody(try_as_nobody)
    assert access == "read-only"
    assert status["state"] == "watching"  # queries work
    assert outcome == "forbidden"
    assert daemon.status()["state"] == "watching"  # nothing was paused

    # mediaforgectl says what to do, with exit code 77. (Its main() runs in the forked child:
    # this machine's interpreter may live where nobody cannot execute it.)
    def ctl_as_nobody() -> tuple[int, str]:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = ctl_main(["--socket", str(daemon.socket), "pause"])
        return code, stderr.getvalue()

    # Warm the imports first: the child cannot read the interpreter's lazily imported modules.
    assert ctl_main(["--socket", str(daemon.socket), "status"]) == 0
    assert ctl_main(["--socket", str(daemon.socket), "confirm", "/elsewhere"]) == 1
    code, stderr = as_nobody(ctl_as_nobody)
    assert code == 77, stderr
    assert "may only query" in stderr and "control_users" in stderr
    forbidden = [e for e in daemon.log_events() if e.get("event") == "command_forbidden"]
    assert forbidden and forbidden[0]["uid"] == 65534 and forbidden[0]["cmd"] == "pause"
    assert daemon.stop() == 0

    # Listed by group (nogroup is nobody's primary group): allowed.
    daemon.settings["control_groups"] = ["nogroup"]
    daemon.start()
    access, _, outcome = as_nobody(try_as_nobody)
    assert (access, outcome) == ("full", "allowed")
    assert daemon.status()["state"] == "paused"
    assert daemon.stop() == 0


def test_idle_connections_time_out(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    daemon = daemon_factory([library], control_idle_timeout=0.5).start()
    client = RawClient(daemon.socket, timeout=30)
    assert client.read()["error"]["code"] == "idle_timeout"  # sent after 0.5 s of silence
    assert client.readline() == b""  # then the connection is closed
    client.close()
    assert daemon.status()["state"] in ("scanning", "watching")
    assert daemon.stop() == 0


def test_the_number_of_clients_is_capped(
    daemon_factory: Callable[..., Daemon], library: Path, short_tmp: Path
) -> None:
    daemon = daemon_factory(
        [library], control_max_clients=4, control_reserved_clients=1, socket_mode="0666"
    ).start()
    _open_socket(daemon, short_tmp)

    # Others may hold 3 of the 4 slots (one is kept for root and the daemon's user).
    def crowd(channel: Channel) -> None:
        clients = [RawClient(daemon.socket) for _ in range(4)]
        channel.report([c.hello.get("error", {}).get("code") for c in clients])
        channel.wait_go()
        for client in clients:
            client.close()

    with Nobody(crowd) as nobody:
        assert nobody.next_report() == [None, None, None, "busy"]
        held = [RawClient(daemon.socket)]  # root takes the reserved slot
        assert held[0].hello["access"] == "full" and "only" not in held[0].hello
        # Past every slot root still gets status and ping, and a clear busy for the rest.
        limited = RawClient(daemon.socket)
        assert limited.hello["only"] == ["hello", "ping", "status"]
        assert limited.request({"id": 1, "cmd": "status"})["ok"] is True
        assert limited.request({"id": 2, "cmd": "ping"})["result"]["pong"] is True
        reply = limited.request({"id": 3, "cmd": "pause"})
        assert (
            reply["error"]["code"] == "busy" and "control_max_clients" in reply["error"]["message"]
        )
        limited.close()
        assert daemon.ctl("status").returncode == 0
        result = daemon.ctl("pause", check=False)
        assert result.returncode == 75 and "busy" in result.stderr
        nobody.go()
        nobody.result()
    for client in held:
        client.close()
    # The slots free once the daemon saw the closes.
    wait_for(lambda: daemon.ctl("pause", check=False).returncode == 0, what="a free slot")
    refused = [e for e in daemon.log_events() if e.get("event") == "client_refused_busy"]
    assert refused and refused[0]["uid"] == 65534
    assert "control_reserved_clients" in refused[0]["why"]
    assert daemon.stop() == 0


def test_a_hundred_clients_at_once(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    for i in range(20):
        (library / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes([i]) * 50)
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    barrier = threading.Barrier(100)
    results: list[Any] = [None] * 100

    def one(i: int) -> None:
        client = None
        try:
            client = Client(daemon.socket, timeout=60)
            barrier.wait(60)  # all 100 connected before anyone asks
            status = client.call("status")
            ping = client.call("ping")
            results[i] = (status["roots"][0]["items"], ping["pong"])
        except (OSError, DaemonUnavailable, CommandFailed, threading.BrokenBarrierError) as exc:
            results[i] = exc
        finally:
            if client is not None:
                with contextlib.suppress(OSError):
                    client.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == [(20, True)] * 100
    status = daemon.status()
    assert status["roots"][0]["items"] == 20
    # Finished jobs have no time left to estimate.
    assert status["jobs"] and all(j["complete"] and j["eta_s"] is None for j in status["jobs"])
    assert daemon.stop() == 0


def test_a_socket_nobody_may_open_exits_77(
    daemon_factory: Callable[..., Daemon], library: Path, short_tmp: Path
) -> None:
    daemon = daemon_factory([library], socket_mode="0600").start()
    _open_socket(daemon, short_tmp)  # the folders are open: only the socket's mode says no

    def ctl_as_nobody(*args: str) -> tuple[int, str]:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = ctl_main(["--socket", str(daemon.socket), *args])
        return code, stderr.getvalue()

    assert ctl_main(["--socket", str(daemon.socket), "status"]) == 0  # warm the imports
    for args in (("status",), ("ping",), ("search", "x")):
        code, stderr = as_nobody(lambda args=args: ctl_as_nobody(*args))
        assert code == 77, stderr
        assert "permission denied" in stderr
    assert daemon.stop() == 0
