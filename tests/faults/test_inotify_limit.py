"""The inotify-limit fallback quotes the limit in force, not the host's.

A user namespace of its own (as a container has) can hold a lower limit than the host's
fs.inotify.max_user_watches, which is all that /proc/sys/fs/inotify shows inside it: the
daemon ran out at the namespace's 10 watches and told the user about the host's 192,530.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from mediaforged.fs.mounts import inotify_limit_hint, inotify_usage
from tests.conftest import Daemon, wait_for

pytestmark = pytest.mark.timeout(120)

NS_LIMIT = 10
IN_A_NAMESPACE = [
    "unshare", "-U", "-r", "sh", "-c",
    f'echo {NS_LIMIT} > /proc/sys/user/max_inotify_watches && exec "$@"', "sh",
]  # fmt: skip


def _host_limit() -> str:
    return Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()


@pytest.fixture
def namespace() -> list[str]:
    probe = subprocess.run([*IN_A_NAMESPACE, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no user namespace to lower the inotify limit in: {probe.stderr!r}")
    if int(_host_limit()) <= NS_LIMIT:
        pytest.skip("the host's own limit is as low as the namespace's")
    return IN_A_NAMESPACE


def test_the_hint_in_a_user_namespace_names_its_own_limit(namespace: list[str]) -> None:
    code = "from mediaforged.fs.mounts import inotify_limit_hint as h; print(h())"
    hint = subprocess.run(
        [*namespace, sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert f"({NS_LIMIT}, user.max_inotify_watches) is reached" in hint
    assert "`sysctl user.max_inotify_watches=524288`" in hint
    assert f"({_host_limit()})" not in hint.split("is reached")[0]


def test_the_stand_in_file_is_the_limit_quoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in = tmp_path / "max_user_watches"
    stand_in.write_text("1234\n")
    monkeypatch.setenv("MEDIAFORGE_INOTIFY_LIMIT_FILE", str(stand_in))
    assert inotify_limit_hint().startswith(
        "the inotify watch limit (1234, fs.inotify.max_user_watches) is reached: "
        "raise it with `sysctl fs.inotify.max_user_watches=524288`"
    )
    assert inotify_usage()["limit"] == 1234
    stand_in.write_text("600000\n")  # above the usual advice: double it
    assert "`sysctl fs.inotify.max_user_watches=1200000`" in inotify_limit_hint()


def test_a_daemon_out_of_watches_in_a_namespace_quotes_the_namespace_limit(
    daemon_factory: Callable[..., Daemon],
    library: Path,
    namespace: list[str],
    tally: Counter[str],
) -> None:
    for i in range(4 * NS_LIMIT):
        (library / f"d{i}").mkdir()
    daemon = daemon_factory([library], poll_interval=0.3)
    daemon.wrapper = namespace
    daemon.start()
    tally["faults"] += 1
    root = wait_for(
        lambda: (r := daemon.status()["roots"][0])["watch"] == "poll" and r, what="the fallback"
    )
    hint = root["watch_fallback"]
    assert f"the inotify watch limit ({NS_LIMIT}, user.max_inotify_watches)" in hint, hint
    assert daemon.status()["inotify"]["limit"] == NS_LIMIT
    assert daemon.stop() == 0
