"""A small mediaforged plugin: appends one JSON line per catalog change to a file.

Install it next to mediaforged (``pip install ./examples/plugin``); the daemon finds it by its
entry point in the group ``mediaforged.plugins`` (pyproject.toml) at start. Its hooks run in
a thread of their own: blocking I/O is fine, but a hook that takes longer than
``plugin_timeout`` seconds is abandoned and the plugin made again (the changes are given
again: make your hooks safe to repeat).
"""

from __future__ import annotations

import json
import os
from typing import Any


class ChangeLogger:
    """Any of on_event, on_scan_complete, on_metadata_extracted may be left out."""

    def __init__(self) -> None:
        self.path = os.environ.get("MEDIAFORGE_EXAMPLE_LOG", "/tmp/mediaforge-changes.jsonl")

    def on_event(self, event: dict[str, Any]) -> None:
        # event: cursor, kind (added, changed, moved, moved_from, restored, missing), path,
        # at, item, media_type, old_path (moves)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")

    def on_scan_complete(self, items: list[dict[str, Any]]) -> None:
        # The same changes, once per page of the change log (up to 500 at a time).
        pass

    def on_metadata_extracted(self, item: dict[str, Any], metadata: dict[str, Any]) -> None:
        # item: the `extracted` event (cursor, path, item, media_type); metadata: width,
        # height, duration_s, title, artist, ... as the catalog has them now.
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"extracted": item["path"], "metadata": metadata}) + "\n")
