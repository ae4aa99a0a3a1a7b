"""Notify targets against stand-in media servers (tests/system/mediaservers.py), one daemon for
the module: batching per folder, path_map, every kind's requests, a target that is down for a
while, a command that hangs, a root going offline, a half-copied file, `targets test`, the
metrics, `targets test` over HTTP, targets added and removed by a reload, and a kill -9
between a send and the cursor's commit (the last test: it restarts)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Daemon, sha256_of, wait_for
from tests.system.mediaservers import TOKEN, Got, Servers, serve

SECRET = "s3cret"
MOVIES = 20

HOOK_SCRIPT = """
import os, sys, time
out, marker = sys.argv[1], sys.argv[2]
data = sys.stdin.read()
if os.path.exists(marker):
    os.unlink(marker)
    time.sleep(600)  # hangs: the target's timeout kills it
with open(out, "a") as f:
    f.write(data + "\\n")
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base_dir = tmp_path_factory.mktemp("notify")
    lib, lib2 = base_dir / "lib", base_dir / "lib2"
    for folder in ("movies", "music", "half", "kill"):
        (lib / folder).mkdir(parents=True)
    lib2.mkdir()
    for i in range(3):
        (lib2 / f"two{i}.dat").write_bytes(b"two %d" % i)
    servers = Servers(plex_locations=["/data/movies"], nd_libraries=[str(lib)], down_for=3)
    httpd, url = serve(servers)
    script, out, marker = base_dir / "hook.py", base_dir / "hook.out", base_dir / "hang"
    script.write_text(HOOK_SCRIPT)
    marker.write_text("hang once")

    def web(name: str, path: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "kind": "webhook", "url": f"{url}/{path}", "token": SECRET, **extra}

    quick = {"debounce": 0.5}
    targets = [
        {"name": "jf", "kind": "jellyfin", "url": f"{url}/jf", "token": TOKEN,
         "path_map": {str(lib): "/data"}, **quick},
        {"name": "plex", "kind": "plex", "url": f"{url}/plex", "token": TOKEN,
         "path_map": {str(lib / "movies"): "/data/movies", str(lib): "/other"}, **quick},
        web("hook", "hook", path_map={str(lib / "movies"): "/m", str(lib2): "/two"}, **quick),
        web("down", "down", roots=[str(lib)], debounce=0.3),
        web("kill", "kill", roots=[str(lib)], debounce=0.3),
        {"name": "nd", "kind": "navidrome", "url": f"{url}/nd", "user": "admin", "token": TOKEN},
        {"name": "kodi", "kind": "kodi", "url": f"{url}/kodi", **quick},
        {"name": "immich", "kind": "immich", "url": f"{url}/immich", "token": TOKEN,
         "path_map": {str(lib / "half"): "/photos"}, **quick},
        {"name": "abs", "kind": "audiobookshelf", "url": f"{url}/abs", "token": TOKEN,
         "path_map": {str(lib / "half"): "/books"}, **quick},
        {"name": "cmd", "kind": "command", "command": [sys.executable, str(script), str(out),
         str(marker)], "timeout": 1, "debounce": 0.3, "roots": [str(lib)]},
    ]  # fmt: skip
    workdir = base_dir / "d"
    workdir.mkdir()
    daemon = Daemon(
        workdir, [lib, lib2], targets=targets, thumbnail_size=0, http_listen="127.0.0.1:0"
    )
    try:
        daemon.start()
        daemon.wait_idle()
        # Every target has its cursor before the files come.
        wait_for(lambda: all(t["state"] == "ok" for t in _targets(daemon).values()), 60, "targets")
        for i in range(MOVIES):
            (lib / "movies" / f"m{i:02d}.dat").write_bytes(b"movie %d" % i)
        yield {"daemon": daemon, "servers": servers, "lib": lib, "lib2": lib2, "out": out}
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()
        daemon.close()
        httpd.shutdown()
        httpd.server_close()


def _targets(daemon: Daemon) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in json.loads(daemon.ctl("targets", "--json").stdout)["targets"]}


def _updates(got: list[Got]) -> list[dict[str, str]]:
    return [u for g in got if g.path == "/Library/Media/Updated" for u in g.json()["Updates"]]


def _hook_paths(got: list[Got], key: str = "server_path") -> list[str]:
    return [e.get(key) for g in got for e in g.json()["events"]]


def test_a_folder_of_new_files_is_one_batch_with_translated_paths(world: dict[str, Any]) -> None:
    servers: Servers = world["servers"]
    want = {f"/data/movies/m{i:02d}.dat" for i in range(MOVIES)}
    wait_for(lambda: {u["Path"] for u in _updates(servers.of("jf"))} >= want, 60, "jellyfin")
    got = servers.of("jf")
    updates = [u for u in _updates(got) if u["Path"] in want]
    assert sorted(u["Path"] for u in updates) == sorted(want)  # each told once
    assert {u["UpdateType"] for u in updates} == {"Created"}
    assert len(_updates(got)) == len(updates)  # nothing else told
    assert len(got) <= 3  # batched per folder over the debounce, not one request a file
    assert all(g.headers["x-emby-token"] == TOKEN for g in got)


def test_plex_refreshes_the_folder_of_its_section(world: dict[str, Any]) -> None:
    servers: Servers = world["servers"]
    wait_for(lambda: [g for g in servers.of("plex") if g.path.endswith("/refresh")], 60, "plex")
    paths = [g.path for g in servers.of("plex", ok=False)]
    assert "/library/sections" in paths
    refresh = [g for g in servers.of("plex") if g.path.endswith("/refresh")]
    assert {(g.path, g.query["path"]) for g in refresh} == {
        ("/library/sections/1/refresh", "/data/movies")
    }
    assert all(g.method == "GET" for g in servers.of("plex", ok=False))


def test_the_webhook_is_signed_and_lists_the_events(world: dict[str, Any]) -> None:
    servers: Servers = world["servers"]
    want = {f"/m/m{i:02d}.dat" for i in range(MOVIES)}
    wait_for(lambda: set(_hook_paths(servers.of("hook"))) >= want, 60, "the webhook")
    for got in servers.of("hook"):
        mac = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
        assert got.headers["x-mediaforge-signature"] == f"sha256={mac}"
    events = [e for g in servers.of("hook") for e in g.json()["events"]]
    assert {e["kind"] for e in events if e["server_path"] in want} == {"added"}


def test_the_other_kinds_send_what_their_servers_document(world: dict[str, Any]) -> None:
    servers: Servers = world["servers"]
    daemon: Daemon = world["daemon"]
    wait_for(lambda: servers.of("nd") and servers.of("kodi"), 60, "navidrome and kodi")
    scans = wait_for(lambda: [g for g in servers.of("nd") if g.path == "/rest/startScan"])
    assert scans[0].query["u"] == "admin"
    # Navidrome 0.59 takes targets: the folder inside the library its native API lists.
    assert scans[0].query["target"] == "1:movies"
    movies = f"{world['lib']}/movies/"
    scanned = lambda: [g.json()["params"].get("directory") for g in servers.of("kodi")]  # noqa: E731
    wait_for(lambda: movies in scanned(), 60, "kodi's scan of the folder")
    methods = {g.json()["method"] for g in servers.of("kodi")}
    assert methods == {"VideoLibrary.Scan", "XBMC.GetInfoBooleans"}
    # The servers that can tell whether they scanned: seen running, then done, in the health.
    wait_for(lambda: _targets(daemon)["nd"]["confirmation"] == "scan finished (3 files)", 60)
    wait_for(lambda: _targets(daemon)["kodi"]["confirmation"] == "scan finished", 60, "kodi")
    wait_for(lambda: _targets(daemon)["plex"]["confirmation"] == "scan of Lib1 finished", 60)
    asked = [g for g in servers.of("plex") if g.path == "/activities"]
    assert len(asked) >= 3  # running (twice), then gone


def test_jellyfin_refreshes_a_changed_item_it_has(world: dict[str, Any]) -> None:
    servers: Servers = world["servers"]
    wait_for(lambda: "/data/movies/m05.dat" in servers.jf_items, 60, "jellyfin has m05")
    (world["lib"] / "movies" / "m05.dat").write_bytes(b"movie 5, a better copy")
    item = servers.jf_items["/data/movies/m05.dat"]
    refreshed = wait_for(
        lambda: [g for g in servers.of("jf") if g.path == f"/Items/{item}/Refresh"], 60, "refresh"
    )
    assert refreshed[0].method == "POST" and refreshed[0].headers["x-emby-token"] == TOKEN
    assert {"Path": "/data/movies/m05.dat", "UpdateType": "Modified"} in _updates(servers.of("jf"))
    lookup = [g for g in servers.of("jf") if g.path == "/Items"][-1]
    assert lookup.query["searchTerm"] == "m05" and lookup.query["Fields"] == "Path"


def test_a_path_outside_every_map_is_reported_not_sent(world: dict[str, Any]) -> None:
    daemon: Daemon = world["daemon"]
    servers: Servers = world["servers"]
    (world["lib"] / "music" / "song.dat").write_bytes(b"a song")
    health = wait_for(
        lambda: (t := _targets(daemon))["hook"]["last_skipped"] and t, 60, "the skipped path"
    )
    assert "music" in health["hook"]["last_skipped"]
    assert "path_map" in health["hook"]["last_skipped"]
    # Plex: /other/music is in no section of the server: reported too, never sent.
    wait_for(lambda: "no library" in _targets(daemon)["plex"]["last_skipped"], 60, "plex skip")
    wait_for(lambda: "/data/music/song.dat" in {u["Path"] for u in _updates(servers.of("jf"))})
    assert not [g for g in servers.of("hook") if b"song" in g.body]
    assert not [g for g in servers.of("plex") if "music" in g.query.get("path", "")]


def test_a_target_down_for_a_while_gets_everything_once(world: dict[str, Any]) -> None:
    servers: Servers = world["servers"]
    want = [str(world["lib"] / "movies" / f"m{i:02d}.dat") for i in range(MOVIES)]
    wait_for(lambda: set(_hook_paths(servers.of("down"), "path")) >= set(want), 90, "recovery")
    assert len([g for g in servers.of("down", ok=False) if g.status == 503]) == 3
    events = [e for g in servers.of("down") for e in g.json()["events"] if e["kind"] == "added"]
    told = [e["path"] for e in events if e["path"] in want]  # (one of them changes later)
    assert sorted(told) == sorted(want)  # nothing lost, nothing twice once acknowledged


def test_a_hanging_command_is_killed_and_retried(world: dict[str, Any]) -> None:
    daemon: Daemon = world["daemon"]
    out: Path = world["out"]
    wait_for(lambda: out.exists() and "m00.dat" in out.read_text(), 90, "the command's run")
    health = _targets(daemon)["cmd"]
    assert health["requests"]["retry"] >= 1
    assert health["requests"]["ok"] >= 1
    assert any(
        e["event"] == "target_error" and "timeout" in e["error"] for e in daemon.log_events()
    )


def test_a_half_copied_file_is_told_once_after_it_settled(world: dict[str, Any]) -> None:
    servers: Servers = world["servers"]
    daemon: Daemon = world["daemon"]
    path = world["lib"] / "half" / "big.dat"
    with open(path, "wb") as f:
        f.write(b"a" * 100_000)
        f.flush()
        os.fsync(f.fileno())
        f.write(b"b" * 100_000)
    server = "/data/half/big.dat"
    wait_for(lambda: server in {u["Path"] for u in _updates(servers.of("jf"))}, 60, "the copy")
    daemon.wait_idle()
    item = daemon.catalog.item(path)
    assert item is not None and item["file_hash"] == sha256_of(path)
    wait_for(lambda: _targets(daemon)["jf"]["lag"] == 0, 60, "jellyfin caught up")
    assert [u["Path"] for u in _updates(servers.of("jf"))].count(server) == 1
    # The libraries that hold it (immich, audiobookshelf) scanned that library only.
    wait_for(lambda: servers.of("immich") and servers.of("abs"), 60, "immich and abs")
    assert "/api/libraries/im1/scan" in [g.path for g in servers.of("immich")]
    assert "/api/libraries/ab1/scan" in [g.path for g in servers.of("abs")]


def test_a_root_gone_offline_sends_nothing(world: dict[str, Any], tmp_path: Path) -> None:
    daemon: Daemon = world["daemon"]
    servers: Servers = world["servers"]
    lib2: Path = world["lib2"]
    before = len(servers.of("hook", ok=False))
    stash = tmp_path / "stash"
    lib2.rename(stash)
    lib2.mkdir()  # an unmounted share: the mount point, empty
    daemon.ctl("rescan", str(lib2), check=False)
    wait_for(lambda: not daemon.status()["roots"][1]["online"], 60, "lib2 offline")
    (world["lib"] / "movies" / "late.dat").write_bytes(b"late")  # something else to tell
    wait_for(lambda: "/m/late.dat" in _hook_paths(servers.of("hook")), 60, "the later change")
    new = servers.of("hook", ok=False)[before:]
    assert not [p for p in _hook_paths(new) if p and p.startswith("/two")]
    assert daemon.catalog.query("SELECT count(*) FROM events WHERE kind = 'missing'")[0][0] == 0
    lib2.rmdir()
    stash.rename(lib2)
    daemon.ctl("rescan", str(lib2))


def test_targets_test_shows_the_request_and_send_sends_it(world: dict[str, Any]) -> None:
    daemon: Daemon = world["daemon"]
    servers: Servers = world["servers"]
    movie = str(world["lib"] / "movies" / "m01.dat")
    shown = json.loads(daemon.ctl("targets", "test", "plex", movie, "--json").stdout)
    assert shown["translated"] == "/data/movies/m01.dat"
    assert shown["library"] == "Lib1"
    assert shown["requests"][0]["url"].endswith("/library/sections/1/refresh?path=%2Fdata%2Fmovies")
    assert TOKEN not in json.dumps(shown) and not shown["sent"]
    outside = daemon.ctl("targets", "test", "hook", str(world["lib"] / "music" / "x"), check=False)
    assert outside.returncode == 1 and "outside every path_map" in outside.stderr
    before = len(servers.of("plex"))
    sent = json.loads(daemon.ctl("targets", "test", "plex", movie, "--send", "--json").stdout)
    assert sent["sent"] and len(servers.of("plex")) > before
    human = daemon.ctl("targets").stdout
    assert "jf" in human and "jellyfin" in human
    assert "target jf: ok" in daemon.ctl("status").stdout
    metrics = daemon.ctl("metrics").stdout
    assert 'mediaforge_notify_requests_total{result="ok",target="jf"}' in metrics
    assert 'mediaforge_consumer_lag_events{target="jf"}' in metrics
    assert 'mediaforge_notify_requests_total{result="retry",target="down"} 3.0' in metrics


def test_targets_test_sends_over_http_with_an_admin_token(world: dict[str, Any]) -> None:
    daemon: Daemon = world["daemon"]
    servers: Servers = world["servers"]
    base = wait_for(lambda: daemon.status()["http"], 30, "the HTTP address")
    admin = (daemon.state_dir / "admin.token").read_text().strip()
    movie = str(world["lib"] / "movies" / "m02.dat")
    before = len(servers.of("hook"))
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"}) as http:
        shown = http.post("/api/v1/targets/hook/test", json={"path": movie}, timeout=60)
        assert shown.status_code == 200, shown.text
        assert shown.json()["translated"] == "/m/m02.dat" and not shown.json()["sent"]
        sent = http.post("/api/v1/targets/hook/test", json={"path": movie, "send": True})
        assert sent.status_code == 200 and sent.json()["sent"], sent.text
        unknown = http.post("/api/v1/targets/nope/test", json={"path": movie})
        assert unknown.status_code == 400 and "no target named" in unknown.text
    assert len(servers.of("hook")) == before + 1
    assert servers.of("hook")[-1].json()["events"][0]["server_path"] == "/m/m02.dat"


def _reload(daemon: Daemon, targets: list[dict[str, Any]]) -> None:
    """Write the config with these targets and send SIGHUP; wait for its `reloaded`."""
    count = sum(e["event"] == "reloaded" for e in daemon.log_events())
    daemon.settings["targets"] = targets
    daemon.write_config()
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGHUP)
    wait_for(lambda: sum(e["event"] == "reloaded" for e in daemon.log_events()) > count, 60)


def test_a_reload_starts_added_targets_and_stops_removed_ones(world: dict[str, Any]) -> None:
    daemon: Daemon = world["daemon"]
    servers: Servers = world["servers"]
    lib: Path = world["lib"]
    configured = list(daemon.settings["targets"])
    url = configured[0]["url"].rsplit("/", 1)[0]
    late = {"name": "late", "kind": "webhook", "url": f"{url}/late", "token": SECRET,
            "debounce": 0.3, "roots": [str(lib)]}  # fmt: skip
    (lib / "movies" / "before.dat").write_bytes(b"before late was configured")
    wait_for(lambda: "/m/before.dat" in _hook_paths(servers.of("hook")), 60, "before.dat")
    _reload(daemon, [*configured, late])
    wait_for(lambda: _targets(daemon).get("late", {}).get("state") == "ok", 60, "late started")
    (lib / "movies" / "one.dat").write_bytes(b"told to late")
    wait_for(lambda: "one.dat" in str(_hook_paths(servers.of("late"), "path")), 60, "late told")
    assert "before.dat" not in str(_hook_paths(servers.of("late"), "path"))  # from the head
    _reload(daemon, configured)
    assert "late" not in _targets(daemon)
    (lib / "movies" / "two.dat").write_bytes(b"while late was removed")
    wait_for(lambda: "/m/two.dat" in _hook_paths(servers.of("hook")), 60, "two.dat")
    rows = daemon.catalog.query("SELECT cursor FROM consumer_cursors WHERE name = 'target:late'")
    assert rows  # its cursor stays
    _reload(daemon, [*configured, late])  # back: it goes on from its cursor, told of two.dat
    wait_for(lambda: "two.dat" in str(_hook_paths(servers.of("late"), "path")), 60, "caught up")
    metrics = daemon.ctl("metrics").stdout
    assert 'mediaforge_consumer_lag_events{target="late"}' in metrics
    _reload(daemon, configured)


def test_kill_9_between_send_and_cursor_commit_loses_nothing(world: dict[str, Any]) -> None:
    daemon: Daemon = world["daemon"]
    servers: Servers = world["servers"]
    proc = daemon.proc
    assert proc is not None
    servers.on_kill = lambda: os.kill(proc.pid, signal.SIGKILL)
    (world["lib"] / "kill" / "k.dat").write_bytes(b"killed while telling")
    assert daemon.wait_exit() == -signal.SIGKILL  # killed by the server before it answered
    daemon.start()
    wait_for(
        lambda: len([g for g in servers.of("kill", ok=False) if b"k.dat" in g.body]) >= 2,
        60,
        "the change told again after the restart",
    )
    wait_for(lambda: _targets(daemon)["kill"]["lag"] == 0, 60, "the kill target caught up")
    acknowledged = [g for g in servers.of("kill") if b"k.dat" in g.body]
    assert len(acknowledged) >= 1  # at least once; at most the one duplicate of the kill
