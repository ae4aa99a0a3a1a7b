"""Roots taken out of the config (issue 14, item 6), and where thumbnails go (item 9).

A removed root's items go offline, not present: not counted, searched or shown as duplicates,
`why` names the removed root, `roots` lists it as removed with its items and bytes, and `roots
forget` drops them after asking (refused for a configured root). Configured again, its items
are present at once. Under systemd ($CACHE_DIRECTORY) thumbnails go to the cache folder, and
`info` and `search --json` give each item's thumbnail path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from mediaforged.cli.query import size_text
from tests.conftest import Daemon, wait_for


def _picture(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (48, 32), colour).save(path, "JPEG")


def _json(d: Daemon, *args: str) -> Any:
    return json.loads(d.ctl(*args, "--json").stdout)


def _search(d: Daemon, *args: str) -> list[dict[str, Any]]:
    out = d.ctl("search", "--json", "--limit", "1000", *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _reload(d: Daemon, roots: list[Path]) -> None:
    d.roots = roots
    d.write_config()
    d.ctl("reload")


def _thumbnails_done(d: Daemon) -> dict[str, Any] | None:
    s = d.status()
    return s if s["thumbnails"]["idle"] and s["pending"]["thumbnails"] == 0 else None


def test_a_removed_root_goes_offline_and_can_be_forgotten(
    short_tmp: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    keep, gone = short_tmp / "keep", short_tmp / "gone"
    _picture(keep / "a.jpg", (200, 10, 10))
    _picture(keep / "same.jpg", (10, 200, 10))
    (keep / "notes.txt").write_text("no thumbnail for this\n")
    _picture(gone / "b.jpg", (10, 10, 200))
    _picture(gone / "sub" / "c.jpg", (90, 90, 10))
    (gone / "copy.jpg").write_bytes((keep / "same.jpg").read_bytes())  # a duplicate across roots
    cache = short_tmp / "cache"
    d = daemon_factory([keep, gone])
    d.env = {"CACHE_DIRECTORY": str(cache)}  # as systemd's CacheDirectory= sets it
    d.start()
    d.wait_idle()
    wait_for(lambda: _thumbnails_done(d), 60, "the thumbnails")
    assert _json(d, "duplicates")["groups"] == 1

    # Thumbnails: in the cache folder, not the state folder; info and search give the path.
    info = _json(d, "info", str(keep / "a.jpg"))
    thumb = Path(info["thumbnail"])
    assert thumb.is_absolute() and thumb.is_relative_to(cache / "thumbnails") and thumb.is_file()
    assert not (d.state_dir / "thumbnails").exists()
    assert _json(d, "info", str(keep / "notes.txt"))["thumbnail"] is None
    by_path = {i["path"]: i for i in _search(d)}
    assert by_path[str(keep / "a.jpg")]["thumbnail"] == str(thumb)
    assert by_path[str(keep / "notes.txt")]["thumbnail"] is None

    # Bytes per root in status.
    sizes = {r["path"]: r["bytes"] for r in d.status()["roots"]}
    assert sizes[str(gone)] == sum(p.stat().st_size for p in gone.rglob("*") if p.is_file())
    view = d.ctl("status", columns=120).stdout.splitlines()
    header = next(line for line in view if line.startswith("root"))
    assert "size" in header.split()
    gone_line = next(line for line in view if line.startswith(str(gone) + " "))
    assert size_text(sizes[str(gone)]) in gone_line

    _reload(d, [keep])
    assert {r["path"] for r in d.status()["roots"]} == {str(keep)}
    assert {bytes(r["path_key"]) for r in d.catalog.query(
        "SELECT path_key FROM media_items WHERE status = 'offline'"
    )} == {os.fsencode(gone / n) for n in ("b.jpg", "sub/c.jpg", "copy.jpg")}  # fmt: skip
    assert not [i for i in _search(d) if i["path"].startswith(str(gone))]
    assert len(_search(d, "--status", "offline")) == 3
    assert _json(d, "duplicates")["groups"] == 0
    why = _json(d, "why", str(gone / "b.jpg"))
    assert why["reason"] == "removed" and "roots forget" in why["message"]

    listed = {r["path"]: r for r in _json(d, "roots")["roots"]}
    assert listed[str(keep)]["state"] == "online" and listed[str(keep)]["configured"]
    removed = listed[str(gone)]
    assert (removed["state"], removed["configured"], removed["items"]) == ("removed", False, 3)
    assert removed["by_status"] == {"offline": 3}
    assert removed["bytes"] == sizes[str(gone)]
    assert "removed" in d.ctl("roots").stdout

    refused = d.ctl("roots", "forget", str(keep), "--yes", check=False)
    assert refused.returncode == 1 and "configured root" in refused.stderr
    unasked = d.ctl("roots", "forget", str(gone), check=False)  # no terminal to ask on
    assert unasked.returncode == 2 and "--yes" in unasked.stderr
    assert len(d.catalog.items("offline")) == 3

    # Configured again: present at once; removed again between two runs: offline at start.
    _reload(d, [keep, gone])
    wait_for(lambda: len(d.catalog.items("present")) == 6, 60, "the root's items back")
    assert not d.catalog.items("offline")
    assert d.stop(signal.SIGTERM) == 0
    d.roots = [keep]
    d.start()
    d.wait_idle()
    assert len(d.catalog.items("offline")) == 3
    assert len(d.catalog.items("present")) == 3

    forgot = _json(d, "roots", "forget", str(gone), "--yes")
    assert forgot == {"root": str(gone), "forgotten": 3}
    assert [r["path"] for r in _json(d, "roots")["roots"]] == [str(keep)]
    assert not d.catalog.query("SELECT id FROM media_items WHERE path LIKE ?", f"{gone}/%")
    lines = d.ctl("events", "--json", "--limit", "1000").stdout.splitlines()
    purged = {e["path"] for e in map(json.loads, lines) if e["kind"] == "purged"}
    assert purged == {str(gone / n) for n in ("b.jpg", "sub/c.jpg", "copy.jpg")}
    missing = d.ctl("roots", "forget", str(gone), "--yes", check=False)
    assert missing.returncode == 1 and "not a root the catalog knows" in missing.stderr


def test_the_dev_daemon_and_a_plain_mediaforgectl_find_each_other(
    short_tmp: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    """`bash .ci/dev daemon LIB` (its run_daemon, as written there) in one terminal; plain
    `mediaforgectl status` and `doctor`, with the same environment, in another."""
    library = short_tmp / "lib"
    _picture(library / "a.jpg", (1, 2, 3))
    home = short_tmp / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIAFORGE_", "XDG_"))}
    env.update(HOME=str(home), NO_COLOR="1", COLUMNS="200")
    for key in ("RUNTIME_DIRECTORY", "STATE_DIRECTORY", "CACHE_DIRECTORY"):
        env.pop(key, None)
    script = Path(__file__).resolve().parents[2] / ".ci" / "dev"
    text = script.read_text()
    function = text[
        text.index("run_daemon() {") : text.index("\n}\n", text.index("run_daemon() {")) + 3
    ]
    venv = Path(sys.executable).parent.parent
    d = daemon_factory([library])
    d.start(
        argv=["bash", "-c", f'{function}\nVENV="$1"; ROOT_DIR="$2"; run_daemon "$3"',
              "dev", str(venv), str(short_tmp), str(library)],
        env=env,
    )  # fmt: skip
    state = home / ".local" / "state" / "mediaforge"
    d.state_dir, d.catalog.db = state, state / "catalog.db"

    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mediaforged.cli.main", *args],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip

    status = ctl("status", "--json")
    assert status.returncode == 0, status.stderr
    assert [r["path"] for r in json.loads(status.stdout)["roots"]] == [str(library)]
    doctor = ctl("doctor", "--json")
    checks = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["config"]["status"] == "pass", checks["config"]
    assert "running daemon" in checks["config"]["detail"]
    assert checks["root"]["subject"] == str(library)
    assert checks["catalog"]["subject"] == str(state)
    assert checks["socket"]["status"] == "pass"
    assert checks["socket"]["subject"] == str(state / "mediaforged.sock")


def _thumbnail_path(d: Daemon, picture: Path) -> Path:
    return Path(_json(d, "info", str(picture))["thumbnail"])


def test_thumbnails_made_before_the_cache_folder_follow_it(
    short_tmp: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    """Thumbnails made in the state folder (before systemd's CacheDirectory= was read) are
    moved to the cache folder by one rename, or, where a rename cannot (another mount, a
    folder already there), made again there; either way `info`'s path is a file."""
    for case in ("moved", "remade"):
        library, cache = short_tmp / case / "lib", short_tmp / case / "cache"
        _picture(library / "a.jpg", (200, 10, 10))
        d = daemon_factory([library])
        d.start()
        d.wait_idle()
        wait_for(lambda d=d: _thumbnails_done(d), 60, "the thumbnails")
        before = _thumbnail_path(d, library / "a.jpg")
        assert before.is_relative_to(d.state_dir / "thumbnails") and before.is_file()
        assert d.stop(signal.SIGTERM) == 0
        if case == "remade":  # a rename cannot replace a folder that holds something
            (cache / "thumbnails").mkdir(parents=True)
            (cache / "thumbnails" / "stray").write_bytes(b"")
        d.env = {"CACHE_DIRECTORY": str(cache)}
        d.start()
        d.wait_idle()
        wait_for(lambda d=d: _thumbnails_done(d), 60, "the thumbnails")
        after = _thumbnail_path(d, library / "a.jpg")
        assert after.is_relative_to(cache / "thumbnails") and after.is_file()
        assert after.read_bytes()[:4] == b"RIFF"  # a WebP
        relocated = [e for e in d.log_events() if e.get("event") == "thumbnails_relocated"]
        assert [e["how"] for e in relocated] == [case]
        assert not (d.state_dir / "thumbnails").exists()
        assert (d.state_dir / "thumbnails.unused").exists() == (case == "remade")
        assert d.stop(signal.SIGTERM) == 0
