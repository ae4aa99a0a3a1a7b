"""Failures at every stage (index, metadata, thumbnail) are seen by `failed`, `search --status
failed`, `status` and the logs, and `retry` runs the failed stage again (issue 14, item 3);
a result longer than the protocol's line limit streams (item 4); the CLI's small promises
(item 11). One daemon for the whole scenario."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import PYTHON, Daemon, wait_for
from tests.rawclient import RawClient

pytestmark = pytest.mark.timeout(300)

# Root without the capabilities that let it read anything: a mode-000 file fails to index.
NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
MANY = 2600  # files with long names: a search of all of them is over 1 MiB of JSON
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def _json(daemon: Daemon, *args: str, check: bool = True) -> Any:
    return json.loads(daemon.ctl(*args, "--json", check=check).stdout)


def _library(root: Path) -> dict[str, Path]:
    rng = random.Random(14)
    p = {
        "noread": root / "noread.jpg",
        "song": root / "corrupt.mp3",
        "random": root / "random.jpg",
        # A TIFF: a truncated JPEG gets a thumbnail of what is there (ffmpeg draws it).
        "truncated": root / "truncated.tif",
        "good": root / "good.jpg",
        "deep": root
        / ("a folder with a name long enough to need cutting " * 2).strip()
        / "and another one below it"
        / "the picture itself.jpg",
        "tune": root / "tune.wav",
    }
    Image.new("RGB", (32, 24), "blue").save(p["good"])
    p["noread"].write_bytes(p["good"].read_bytes())  # readable once fixed: no later failure
    p["noread"].chmod(0)
    p["song"].write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x10" + rng.randbytes(3000))
    p["random"].write_bytes(rng.randbytes(4096))
    # A header Pillow reads (so the metadata is fine), pixels cut short (so no thumbnail).
    Image.effect_noise((400, 300), 50).convert("RGB").save(p["truncated"])
    data = p["truncated"].read_bytes()
    p["truncated"].write_bytes(data[: len(data) // 3])
    p["deep"].parent.mkdir(parents=True)
    Image.new("RGB", (16, 16), "red").save(p["deep"])
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=2.2945", str(p["tune"])],
        check=True,
        timeout=60,
    )
    many = root / "many"
    many.mkdir()
    for n in range(MANY):
        (many / f"{n:05}-{'x' * 200}.txt").write_bytes(b"%d" % n)
    return p


def _drained(daemon: Daemon) -> dict[str, Any] | None:
    s = daemon.status()
    idle = s["metadata"]["idle"] and s["thumbnails"]["idle"]
    return s if idle and s["pending"]["metadata"] == 0 and s["pending"]["thumbnails"] == 0 else None


def test_failures_at_every_stage_and_long_results(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    p = _library(library)
    daemon = daemon_factory([library], verify="off")  # tests/integration/test_verify.py
    daemon.wrapper = NO_DAC
    daemon.start()
    daemon.wait_idle()
    wait_for(lambda: _drained(daemon), 120, "metadata and thumbnails done")
    failing = {str(p[k]): s for k, s in (("noread", "index"), ("song", "metadata"),
               ("random", "metadata"), ("truncated", "thumbnail"))}  # fmt: skip

    # failed: every stage, each file with its stage and error.
    failed = _json(daemon, "failed")
    assert failed["total"] == 4, failed
    assert failed["by_stage"] == {"index": 1, "metadata": 2, "thumbnail": 1, "verify": 0}
    assert {i["path"]: i["stage"] for i in failed["items"]} == failing
    assert all(i["error_code"] and i["error"] for i in failed["items"]), failed
    assert failed["by_code"]["permission_denied"] == 1
    metadata_only = _json(daemon, "failed", "--stage", "metadata")
    assert {i["path"] for i in metadata_only["items"]} == {str(p["song"]), str(p["random"])}
    # In a pipe: one tab-separated line per file, full paths; the summary on stderr.
    piped = daemon.ctl("failed")
    rows = [line.split("\t") for line in piped.stdout.splitlines()]
    assert {r[3]: r[1] for r in rows} == failing
    assert "4 files failed at 1 index, 2 metadata, 1 thumbnail" in piped.stderr

    # search --status failed finds them all; status counts them by stage.
    found = daemon.ctl("search", "--status", "failed", "--json").stdout.splitlines()
    assert {json.loads(line)["path"] for line in found} == set(failing)
    status = daemon.status()
    assert status["errors"]["by_stage"] == {"index": 1, "metadata": 2, "thumbnail": 1, "verify": 0}
    assert status["errors"]["failed_items"] == 4
    assert status["thumbnails"]["failed_items"] == 1
    assert "4 files failed (1 index, 2 metadata, 1 thumbnail;" in daemon.ctl("status").stdout

    # Logged at warning, a line per file.
    warned = {
        (e["event"], e.get("path"))
        for e in daemon.log_events()
        if e.get("level") == "warning" and e["event"] in ("extract_failed", "thumbnail_failed")
    }
    assert warned == {("extract_failed", str(p["song"])), ("extract_failed", str(p["random"])),
                      ("thumbnail_failed", str(p["truncated"]))}  # fmt: skip

    # retry runs each failed stage again, waits, and exits 1 while files still fail.
    before = daemon.status()
    again = daemon.ctl("retry", check=False)
    assert again.returncode == 1, again.stderr
    assert "retried 4 (1 index, 2 metadata, 1 thumbnail): 0 fixed, 4 still failing" in again.stdout
    after = daemon.status()
    assert after["metadata"]["failed"] == before["metadata"]["failed"] + 2  # read again
    assert after["thumbnails"]["failed"] == before["thumbnails"]["failed"] + 1  # made again
    p["noread"].chmod(0o644)
    # Exit 0 once none fails (the watch may have seen the chmod and indexed it first).
    fixed = _json(daemon, "retry", "--stage", "index")
    assert fixed["still_failed"] == 0 and fixed["fixed"] == fixed["retried"] <= 1, fixed
    assert daemon.catalog.item(p["noread"])["status"] == "present"
    assert _json(daemon, "failed")["total"] == 3

    # A result over 1 MiB: streamed, all of it; asked for in one reply, a clear error.
    lines = daemon.ctl("search", "--type", "other", "--limit", "5000", "--json").stdout
    assert len(lines) > 1 << 20 and len(lines.splitlines()) == MANY
    piped = daemon.ctl("search", "--type", "other", "--limit", "5000")
    assert len(piped.stdout.splitlines()) == MANY and f"1-{MANY} of {MANY:,}" in piped.stderr
    assert all(Path(r.split("\t")[-1]).exists() for r in piped.stdout.splitlines()[:50])
    raw = RawClient(daemon.socket)
    try:
        raw.write(b'{"id": 1, "cmd": "search", "args": {"type": "other", "limit": 5000}}\n')
        reply = raw.read()
    finally:
        raw.sock.close()
    assert reply["ok"] is False and reply["error"]["code"] == "too_large", reply

    # On an 80-column terminal: rows fit, a long path loses its middle, keeps its name.
    terminal = subprocess.run(
        [PYTHON, "-m", "mediaforged.cli.main", "-s", str(daemon.socket), "search", "--type",
         "image", "--status", "any"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "FORCE_COLOR": "1", "NO_COLOR": "1", "COLUMNS": "80"},
    )  # fmt: skip
    shown = ANSI.sub("", terminal.stdout).splitlines()
    assert all(len(line) <= 80 for line in shown), shown
    deep = next(line for line in shown if "the picture itself.jpg" in line)
    assert "…" in deep and deep.rstrip().endswith("/the picture itself.jpg"), shown

    # Usage errors exit 2; --genre, --year, --min-size exist.
    bad = daemon.ctl("search", "--type", "movie", check=False)
    assert bad.returncode == 2 and "type must be one of" in bad.stderr
    assert daemon.ctl("search", "--genre", "x", "--year", "1999", "--json").stdout == ""
    big = daemon.ctl("search", "--min-size", "3000", "--status", "any", "--json").stdout
    assert {Path(json.loads(line)["path"]).name for line in big.splitlines()} >= {
        "random.jpg",
        "corrupt.mp3",
        p["tune"].name,
    }

    # info: floats rounded for people, extra as key: value lines, not a Python dict.
    info = daemon.ctl("info", str(p["tune"])).stdout
    duration = next(line for line in info.splitlines() if line.strip().startswith("duration s"))
    assert re.fullmatch(r"\s*duration s\s+2\.\d{1,3}", duration), duration
    assert "{'" not in info and "extra " in info

    # version: the client's and the daemon's.
    version = _json(daemon, "version")
    assert version["client"] == version["daemon"] and version["daemon_protocol"] == 1
    assert "mediaforged 0.1.0" in daemon.ctl("version").stdout
    assert daemon.stop() == 0


def test_shell_completion_is_on(tmp_path: Path) -> None:
    script = subprocess.run(
        [PYTHON, "-m", "mediaforged.cli.main", "--show-completion", "bash"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    assert script.returncode == 0, script.stderr
    assert "_MEDIAFORGECTL_COMPLETE" in script.stdout
