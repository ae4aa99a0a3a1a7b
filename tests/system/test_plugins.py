"""Plugins found by their entry points: while 5,000 files are catalogued at full speed, a
plugin that raises and one that hangs are logged, timed out and restarted, a good one gets
every change (and the metadata of the pictures), and the daemon still stops cleanly."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from PIL import Image

from tests.conftest import Daemon, wait_for

FILES = 5000
PICTURES = 3
PLUGINS = """
import json, os, time

class Good:
    def on_event(self, event):
        with open(os.environ["MF_PLUGIN_OUT"], "a") as f:
            f.write(json.dumps(event) + "\\n")

    def on_metadata_extracted(self, item, metadata):
        with open(os.environ["MF_PLUGIN_OUT"] + ".meta", "a") as f:
            f.write(json.dumps({"item": item, "metadata": metadata}) + "\\n")

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


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


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
    for i in range(FILES):  # empty files: the catalog's own speed, not the disk's
        folder = lib / f"f{i % 10}"
        folder.mkdir(exist_ok=True)
        (folder / f"{i}.dat").touch()
    pictures = [lib / f"p{i}.png" for i in range(PICTURES)]
    for i, picture in enumerate(pictures):
        Image.new("RGB", (20 + i, 10), "red").save(picture)
    total = FILES + PICTURES
    wait_for(lambda: len(daemon.catalog.items()) == total, 300, "every file catalogued")
    wait_for(lambda: len({e["path"] for e in _lines(out)}) == total, 300, "the good plugin told")
    assert {e["kind"] for e in _lines(out)} == {"added"}
    meta = wait_for(
        lambda: len(m := _lines(Path(f"{out}.meta"))) >= PICTURES and m, 120, "the metadata"
    )
    widths = {m["item"]["path"]: m["metadata"]["width"] for m in meta}
    assert widths == {str(p): 20 + i for i, p in enumerate(pictures)}
    assert {m["item"]["kind"] for m in meta} == {"extracted"}
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
    assert plugins["good"]["hooks"] == ["on_event", "on_metadata_extracted"]
    assert "good" in daemon.ctl("plugins").stdout
    # The change log the users read does not show the plugins' `extracted` events.
    shown = daemon.ctl("events", "--since", "0", "--json").stdout
    assert '"extracted"' not in shown and "p0.png" in shown
    assert daemon.stop() == 0  # a hung plugin thread never holds the shutdown
