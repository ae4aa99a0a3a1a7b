"""How a batch of files is shared between the hashing processes."""

from __future__ import annotations

import os
from pathlib import Path

from mediaforged.pipeline.indexer import IndexRequest, _split_by_bytes
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
    assert _split_by_bytes(_requests([20 * MIB] * 8), 1) == [_requests([20 * MIB] * 8)]


def test_a_big_file_never_holds_back_the_small_ones() -> None:
    reqs = _requests([1 << 40, 100, 200])  # a terabyte first, then two small files
    assert _split_by_bytes(reqs, 2) == [reqs[1:], reqs[:1]]
    assert _split_by_bytes(reqs, 1) == [reqs[1:], reqs[:1]]


def test_big_files_go_alone_and_small_ones_are_shared() -> None:
    reqs = _requests([100 * MIB] * 3 + [40 * MIB] * 10)
    parts = _split_by_bytes(reqs, 2)
    assert parts[-3:] == [[r] for r in reqs[:3]]  # each big file on its own
    assert len(parts) == 5
    assert [r for part in parts[:2] for r in part] == reqs[3:]  # nothing lost, order kept
    sizes = [sum(r.st.st_size for r in part) for part in parts[:2]]
    assert abs(sizes[0] - sizes[1]) <= 40 * MIB
