"""Property: whatever arrives on the control socket, the daemon answers it (or closes that one
connection) and `status` still answers afterwards."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediaforged.control.commands import COMMANDS
from tests.conftest import Daemon
from tests.rawclient import RawClient

# `events --follow` streams until the client leaves: it never sends a final reply.
_COMMANDS = sorted(c for c in COMMANDS if c != "events")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
arg_names = st.sampled_from(
    ["path", "root", "full", "tag", "name", "items", "query", "since", "follow", "limit", "x"]
)
requests = st.fixed_dictionaries(
    {"cmd": st.sampled_from(_COMMANDS) | st.text(max_size=12)},
    optional={
        "id": json_values,
        "args": st.dictionaries(arg_names, json_values, max_size=4) | json_values,
    },
)
lines = st.one_of(
    requests.map(lambda r: json.dumps(r).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ")),
)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    work = Path(tempfile.mkdtemp(prefix="mf", dir="/tmp"))
    library = work / "lib"
    library.mkdir()
    for i in range(5):
        (library / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes([i]) * 40)
    d = Daemon(work, [library], watch=False)
    d.start()
    d.wait_idle()
    yield d
    assert d.stop() == 0
    d.close()
    shutil.rmtree(work, ignore_errors=True)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI failures reproduce
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(lines, min_size=1, max_size=4))
def test_random_messages_never_harm_the_daemon(daemon: Daemon, batch: list[bytes]) -> None:
    client = RawClient(daemon.socket, timeout=60)
    try:
        for line in batch:
            client.write(line + b"\n")
            if not line.strip():
                continue  # blank lines are skipped without a reply
            reply = client.final()
            if reply is None:
                break
            assert isinstance(reply["ok"], bool)
            if not reply["ok"]:
                assert reply["error"]["code"] != "internal", (line, reply)
                assert reply["error"]["message"]
    except (TimeoutError, BrokenPipeError, ConnectionResetError) as exc:
        raise AssertionError(f"the daemon stopped answering after {batch!r}") from exc
    finally:
        client.close()
    check = RawClient(daemon.socket)
    status = check.send(b'{"id": "check", "cmd": "status"}\n')
    check.close()
    assert status["id"] == "check" and status["ok"] is True
    assert status["result"]["roots"][0]["items"] == 5
