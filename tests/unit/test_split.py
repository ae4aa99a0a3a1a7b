"""How a batch of files is shared between the hashing processes."""

from __future__ import annotations

import os
from pathlib import Path

from mediaforged.indexer import IndexRequest, _split_by_bytes
from mediaforged.state import RootState

MIB = 1 << 20


def _requests(sizes: list[int]) -> list[IndexRequest]:
    root = RootState(1, Path("/lib"), b"/lib")
    out = []
    for i, size in enumerate(sizes):
        st = os.stat_result((0o100644, i, 1, 1, 0, 0, size, 0, 0, 0))
        out.append(IndexRequest(root, b"/lib/%d" % i, st))
    return out


def test_small_batches_stay_whole() -> None:
    reqs = _requests([10 * MIB] * 5)
    assert _split_by_bytes(reqs, 2) == [reqs]
    assert _split_by_bytes(_requests([500 * MIB] * 4), 1) == [_requests([500 * MIB] * 4)]


def test_big_files_are_shared_between_processes() -> None:
    reqs = _requests([100 * MIB] * 10)
    parts = _split_by_bytes(reqs, 2)
    assert len(parts) == 2
    assert [r for part in parts for r in part] == reqs  # nothing lost, order kept
    sizes = [sum(r.st.st_size for r in part) for part in parts]
    assert abs(sizes[0] - sizes[1]) <= 100 * MIB
