"""The metrics' labels stay bounded whatever the parts report: a root is named by its
folder, never its path; an unknown command or error code is ``other``."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mediaforged.metrics import Metrics
from mediaforged.metrics.listen import parse_listen
from mediaforged.metrics.live import root_label
from mediaforged.state import DaemonState, RootState


def _root(id_: int, path: str) -> RootState:
    return RootState(id_, Path(path), os.fsencode(path))


def test_a_root_is_labelled_by_its_folder_name_never_its_path() -> None:
    roots = [_root(1, "/srv/a/Photos"), _root(2, "/srv/b/Photos"), _root(3, "/srv/Music")]
    assert [root_label(r, roots) for r in roots] == ["Photos#1", "Photos#2", "Music"]
    assert root_label(_root(4, "/"), [_root(4, "/")]) == "root"


def test_unknown_commands_and_codes_are_other() -> None:
    state = DaemonState([_root(1, "/srv/media/Photos")])
    metrics = Metrics(state, ["status", "ping"])
    metrics.request("socket", "status", 0.002, None)
    metrics.request("socket", "/etc/passwd", 0.002, "no/such/code")
    metrics.request("carrier-pigeon", "ping", 0.002, None)
    metrics.reconciled(state.roots[0], "quick", 0.5)
    metrics.extracted("image", 0.01, None)
    metrics.thumbnailed("video", 2.0, "ValueError: a decoder raised")
    text = generate_latest(metrics.registry).decode()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]

    def count(name: str, **labels: str) -> float:
        return sum(s.value for s in samples if s.name == name and s.labels == labels)

    requests = "mediaforge_control_request_duration_seconds_count"
    assert count(requests, transport="socket", command="status") == 1
    assert count(requests, transport="socket", command="other") == 1
    assert count(requests, transport="other", command="ping") == 1
    errors = "mediaforge_control_errors_total"
    assert count(errors, transport="socket", code="other") == 1
    reconciles = "mediaforge_reconcile_duration_seconds_count"
    assert count(reconciles, root="Photos", scope="quick") == 1
    assert count("mediaforge_extract_duration_seconds_count", media_type="image") == 1
    assert count("mediaforge_thumbnail_duration_seconds_count", media_type="video") == 1
    for s in samples:
        assert all("/" not in v for v in s.labels.values()), s


def test_the_listen_address_is_parsed() -> None:
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:9108") == ("::1", 9108)
    assert parse_listen(":9108") == ("", 9108)
