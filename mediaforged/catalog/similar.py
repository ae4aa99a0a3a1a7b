"""Content signatures in the catalog: what is ``near`` what, the candidate search, the groups.

Thresholds, calibrated by bench/bench_similar.py (its docstring has the figures):
- images: pHash within ``IMAGE_NEAR`` bits of 64 (a 5 % crop measured up to 12, a WebP or a
  JPEG at quality 55 up to 12) and not a burst: two images of the same size encoded alike
  (the same format and JPEG quantisation tables) whose pixels differ are two shots, however
  close their hashes (frames 1/25 s apart measured 0-12 bits: no threshold separates them);
- audio: Chromaprint bit error rate under ``AUDIO_NEAR`` (transcodes and a 1 s trim measured
  0.00-0.011; unrelated generated tone sequences down to 0.126, so 0.2 gave 75 false pairs
  of 4,950) at the best offset (±``_MAX_SHIFT`` items, about 10 s), over an overlap of at
  least half the shorter fingerprint;
- video: the mean pHash distance of the frames at the same fractions of the duration under
  ``VIDEO_NEAR``, durations within 2 % (or 1.5 s).

Candidate search: images through ``PhashIndex``, every 64-bit hash in one numpy array scanned
with XOR and popcount (p95 10.8 ms at 100,000 hashes, 35 ms at 1,000,000: any radius, no
bands to tune); audio and video through the indexed (kind, duration_s) window.
"""

from __future__ import annotations

import array
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mediaforged.catalog.schema import hash_key, media_items, signatures, similar_pairs

__all__ = [
    "AUDIO_NEAR",
    "IMAGE_NEAR",
    "VIDEO_NEAR",
    "PhashIndex",
    "audio_distance",
    "image_near",
    "pack_fingerprint",
    "unpack_fingerprint",
    "video_distance",
]

IMAGE_NEAR = 12
AUDIO_NEAR = 0.08
VIDEO_NEAR = 10.0
_MAX_SHIFT = 80  # fingerprint items (~0.124 s each)
_MASK = (1 << 64) - 1


def _bits(a: int, b: int) -> int:
    return ((a ^ b) & _MASK).bit_count()


def pack_fingerprint(values: Sequence[int]) -> bytes:
    return array.array("I", values).tobytes()


def unpack_fingerprint(raw: bytes | None) -> np.ndarray[Any, Any]:
    return np.frombuffer(raw or b"", dtype=np.uint32)


def image_near(a: Any, b: Any) -> int | None:
    """The pHash distance of two image signatures if they are ``near``, else None."""
    if a.phash is None or b.phash is None:
        return None
    distance = _bits(a.phash, b.phash)
    if distance > IMAGE_NEAR:
        return None
    same_shot = (a.width, a.height, a.encoding) == (b.width, b.height, b.encoding)
    if same_shot and a.content_hash != b.content_hash:
        return None  # a burst: the same camera and size, other pixels
    return distance


def audio_distance(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float | None:
    """The lowest bit error rate of two Chromaprint fingerprints over their overlap."""
    if not len(a) or not len(b):
        return None
    short = min(len(a), len(b))
    best: float | None = None
    for shift in range(-min(_MAX_SHIFT, len(b) - 1), min(_MAX_SHIFT, len(a) - 1) + 1):
        x = a[shift:] if shift >= 0 else a
        y = b if shift >= 0 else b[-shift:]
        n = min(len(x), len(y))
        if n * 2 < short:
            continue
        errors = int(np.bitwise_count(x[:n] ^ y[:n]).sum())
        rate = errors / (32 * n)
        best = rate if best is None else min(best, rate)
    return best


def video_distance(a: Any, b: Any) -> float | None:
    fa, fb = a.frames or [], b.frames or []
    if not fa or len(fa) != len(fb) or not a.duration_s or not b.duration_s:
        return None
    if abs(a.duration_s - b.duration_s) > max(1.5, 0.02 * max(a.duration_s, b.duration_s)):
        return None
    return sum(_bits(x, y) for x, y in zip(fa, fb, strict=True)) / len(fa)


class PhashIndex:
    """Every image's (and video's middle frame's) pHash in memory, with its SHA-256; loaded
    from the catalog at start, grown as signatures are stored. Entries of items that are
    gone stay until the next start: lookups are joined with the present items anyway."""

    def __init__(self) -> None:
        self._hashes = np.zeros(1024, dtype=np.uint64)
        self._names: list[str] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, file_hash: str, phash: int) -> None:
        if self._count == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
        self._hashes[self._count] = phash & _MASK
        self._names.append(file_hash)
        self._count += 1

    def add_many(self, pairs: Iterable[tuple[str, int]]) -> None:
        for file_hash, phash in pairs:
            self.add(file_hash, phash)

    def near(self, phash: int, max_distance: int) -> list[tuple[str, int]]:
        """The (SHA-256, distance) of every hash within ``max_distance`` bits, closest first."""
        live = self._hashes[: self._count]
        distances = np.bitwise_count(live ^ np.uint64(phash & _MASK))
        found = np.nonzero(distances <= max_distance)[0]
        hits = sorted((int(distances[i]), int(i)) for i in found)
        return [(self._names[i], d) for d, i in hits]


async def load_index(conn: AsyncConnection, index: PhashIndex) -> None:
    s = signatures.c
    rows = await conn.stream(
        select(s.file_hash, s.phash).where(s.status == "ok", s.phash.is_not(None)).order_by(s.id)
    )
    async for row in rows:
        index.add(row.file_hash, row.phash)


async def signature_of(conn: AsyncConnection, file_hash: str) -> Any:
    s = signatures.c
    query = select(signatures).where(s.hash_key == hash_key(file_hash), s.file_hash == file_hash)
    return (await conn.execute(query)).first()


async def signatures_of(conn: AsyncConnection, hashes: Sequence[str]) -> dict[str, Any]:
    s = signatures.c
    out: dict[str, Any] = {}
    for at in range(0, len(hashes), 500):
        chunk = list(hashes[at : at + 500])
        rows = await conn.execute(select(signatures).where(s.file_hash.in_(chunk)))
        out.update({r.file_hash: r for r in rows})
    return out


async def near_candidates(
    conn: AsyncConnection, sig: Any, index: PhashIndex, max_distance: float | None = None
) -> list[tuple[str, float]]:
    """The (SHA-256, distance) of the signatures near ``sig`` (not itself), closest first.
    ``max_distance`` widens or narrows the tier's threshold (bits for images and video,
    percent of bits for audio)."""
    found: list[tuple[str, float]] = []
    if sig.kind == "image" and sig.phash is not None:
        limit = int(max_distance) if max_distance is not None else IMAGE_NEAR
        hits = [h for h in index.near(sig.phash, limit) if h[0] != sig.file_hash]
        others = await signatures_of(conn, [h for h, _ in hits])
        for name, distance in hits:
            other = others.get(name)
            if other is None or other.kind != "image":
                continue
            if max_distance is not None or image_near(sig, other) is not None:
                found.append((name, float(distance)))
    elif sig.kind in ("audio", "video") and sig.duration_s:
        s = signatures.c
        window = max(3.0, 0.02 * sig.duration_s)
        rows = await conn.execute(
            select(signatures).where(
                s.kind == sig.kind,
                s.status == "ok",
                s.duration_s.between(sig.duration_s - window, sig.duration_s + window),
                s.file_hash != sig.file_hash,
            )
        )
        mine = unpack_fingerprint(sig.fingerprint)
        for other in rows:
            if sig.kind == "audio":
                rate = audio_distance(mine, unpack_fingerprint(other.fingerprint))
                limit_f = max_distance / 100 if max_distance is not None else AUDIO_NEAR
                if rate is not None and rate <= limit_f:
                    found.append((other.file_hash, round(rate * 100, 1)))
            else:
                d = video_distance(sig, other)
                if d is not None and d <= (
                    max_distance if max_distance is not None else VIDEO_NEAR
                ):
                    found.append((other.file_hash, d))
        found.sort(key=lambda h: h[1])
    return found


def pair_rows(file_hash: str, near: Iterable[tuple[str, float]]) -> list[dict[str, Any]]:
    return [
        {"a_hash": min(file_hash, h), "b_hash": max(file_hash, h), "distance": d} for h, d in near
    ]


async def present_by_hash(conn: AsyncConnection, hashes: Sequence[str]) -> dict[str, list[Any]]:
    """The present items of each SHA-256."""
    c = media_items.c
    out: dict[str, list[Any]] = {}
    for at in range(0, len(hashes), 500):
        chunk = list(hashes[at : at + 500])
        rows = await conn.execute(
            select(c.id, c.path, c.file_hash, c.size, c.dev, c.inode, c.media_type)
            .where(c.file_hash.in_(chunk), c.status == "present")
            .order_by(c.path)
        )
        for r in rows:
            out.setdefault(r.file_hash, []).append(r)
    return out


async def content_groups(conn: AsyncConnection) -> list[list[str]]:
    """SHA-256s of present items that share a decoded-content hash (more than one SHA-256)."""
    s, c = signatures.c, media_items.c
    present = select(c.file_hash).where(c.status == "present").distinct().subquery()
    joined = signatures.join(present, present.c.file_hash == s.file_hash)
    shared = (
        select(s.content_hash)
        .select_from(joined)
        .where(s.content_hash.is_not(None))
        .group_by(s.content_hash)
        .having(func.count() > 1)
        .subquery()
    )
    rows = await conn.execute(
        select(s.content_hash, s.file_hash)
        .select_from(joined)
        .where(s.content_hash.in_(select(shared.c.content_hash)))
        .order_by(s.content_hash, s.file_hash)
    )
    groups: dict[str, list[str]] = {}
    for r in rows:
        groups.setdefault(r.content_hash, []).append(r.file_hash)
    return list(groups.values())


async def near_groups(conn: AsyncConnection) -> list[list[str]]:
    """Components of the near pairs among present items' SHA-256s, closest pairs first; two
    components never join when that would put two shots of a burst (the same size and
    encoding, other pixels) in one group: near is not transitive across a burst. Members
    with the same decoded content count once (that is the ``same-content`` tier)."""
    c, p = media_items.c, similar_pairs.c
    present = select(c.file_hash).where(c.status == "present")
    rows = list(
        await conn.execute(
            select(p.a_hash, p.b_hash)
            .where(p.a_hash.in_(present), p.b_hash.in_(present))
            .order_by(p.distance, p.a_hash, p.b_hash)
        )
    )
    sigs = await signatures_of(conn, sorted({h for r in rows for h in r}))
    parent: dict[str, str] = {}
    shots: dict[str, dict[Any, set[str | None]]] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def shots_of(x: str) -> dict[Any, set[str | None]]:
        if x not in shots:
            sig = sigs.get(x)
            key = (sig.width, sig.height, sig.encoding) if sig is not None else None
            shots[x] = {key: {sig.content_hash}} if sig is not None and sig.kind == "image" else {}
        return shots[x]

    for a, b in rows:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        sa, sb = shots_of(ra), shots_of(rb)
        if any(k in sb and sb[k] != v for k, v in sa.items()):
            continue  # a burst would meet in one group
        keep, gone = min(ra, rb), max(ra, rb)
        parent[gone] = keep
        merged = {k: set(v) for k, v in sa.items()}
        for k, v in sb.items():
            merged.setdefault(k, set()).update(v)
        shots[keep] = merged
    groups: dict[str, list[str]] = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    out = []
    for members in groups.values():
        contents = {sigs[m].content_hash if m in sigs else m for m in members}
        if len(contents) > 1:
            out.append(sorted(members))
    return out


def pending_condition() -> Any:
    """Items whose SHA-256 has no signature yet (for the stage's query and ``status``)."""
    s, c = signatures.c, media_items.c
    return ~select(s.id).where(and_(s.hash_key == c.hash_key, s.file_hash == c.file_hash)).exists()


async def waveform_of(conn: AsyncConnection, item_id: int) -> tuple[str, list[Any] | None]:
    """An item's waveform peaks, or why there are none: "no_item", "pending", "none"."""
    c, s = media_items.c, signatures.c
    row = (await conn.execute(select(c.file_hash, c.hash_key).where(c.id == item_id))).first()
    if row is None:
        return "no_item", None
    sig = (
        await conn.execute(
            select(s.status, s.waveform).where(
                s.hash_key == row.hash_key, s.file_hash == row.file_hash
            )
        )
    ).first()
    if sig is None:
        return "pending", None
    return ("ok", sig.waveform) if sig.waveform else ("none", None)
