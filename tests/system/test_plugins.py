"""Plugins found by their entry points: a plugin that raises and one that hangs are logged,
timed out and restarted while a library is catalogued, and a good one gets every change."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.conftest import Daemon, wait_for

FILES = 300
PLUGINS = """
import json, os, time

class Good:
    def on_event(self, event):
        with open(os.environ["MF_PLUGIN_OUT"], "a") as f:
            f.write(json.dumps(event) + "\\n")

class Raising:
    def on_event(self, event):
        raise RuntimeError("plugin bug")

class Hanging:
    def on_scan_complete(self, items):
        time.sleep(3600)
"""


def _site(tmp: Path) -> Path:
    site = tmp / "site"
    dist = site / "mfplugs-0.1.dist-info"
    dist.mkdir(parents=True)
    (site / "mfplugs.py").write_text(PLUGINS)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mfplugs\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[mediaforged.plugins]\ngood = mfplugs:Good\nraising = mfplugs:Raising\n"
        "hanging = mfplugs:Hanging\n"
    )
    return site


def _plugins(daemon: Daemon) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in json.loads(daemon.ctl("plugins", "--json").stdout)["plugins"]}


def test_plugins_that_raise_or_hang_never_hold_indexing(
    daemon_factory: Any, tmp_path: Path
) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    out = tmp_path / "plugin.out"
    daemon = daemon_factory([lib], plugin_timeout=1, thumbnail_size=0)
    daemon.env = {"PYTHONPATH": f"{_site(tmp_path)}:{os.environ.get('PYTHONPATH', '')}",
                  "MF_PLUGIN_OUT": str(out)}  # fmt: skip
    daemon.start()
    wait_for(lambda: len(_plugins(daemon)) == 3, 60, "three plugins")
    wait_for(lambda: _plugins(daemon)["good"]["state"] == "ok", 60, "the good plugin")
    for i in range(FILES):
        folder = lib / f"f{i % 10}"
        folder.mkdir(exist_ok=True)
        (folder / f"{i}.dat").write_bytes(b"file %d" % i)
    wait_for(lambda: len(daemon.catalog.items()) == FILES, 120, "every file catalogued")

    def told() -> set[str]:
        if not out.exists():
            return set()
        return {json.loads(line)["path"] for line in out.read_text().splitlines()}

    wait_for(lambda: len(told()) == FILES, 120, "every change given to the good plugin")
    plugins = wait_for(
        lambda: (
            (p := _plugins(daemon))["raising"]["restarts"] >= 1
            and p["hanging"]["timeouts"] >= 1
            and p
        ),
        120,
        "the raising plugin restarted and the hanging one timed out",
    )
    assert "plugin bug" in plugins["raising"]["last_error"]
    assert plugins["raising"]["errors"] >= 1 and plugins["raising"]["lag"] > 0
    assert plugins["hanging"]["hooks"] == ["on_scan_complete"]
    assert "good" in daemon.ctl("plugins").stdout
    assert daemon.stop() == 0  # a hung plugin thread never holds the shutdown
