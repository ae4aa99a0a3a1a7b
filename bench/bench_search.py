"""The search language at scale: p50/p95 of query kinds over the socket, against a ping.

    python bench/bench_search.py --items 100000 [--repeat 30]

Builds a catalog with the migrations, inserts ``--items`` rows straight into it (names, folders,
artists, albums, genres, years, sizes, durations, tags: no real files), measuring the insert
cost of the word index kept as the writer keeps it (a batch's rows in bulk, in its
transaction) against the same rows without it, and the index built in bulk; then starts
mediaforged on it (an empty root: the items become missing, so every query says status:any)
and asks each query kind ``--repeat`` times, with a ping between each, on one connection.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from daemonproc import start_daemon

from mediaforged.catalog import searchindex
from mediaforged.catalog.db import create_engine, migrate
from mediaforged.cli.main import Client

WORDS = [
    "love",
    "night",
    "summer",
    "blue",
    "road",
    "river",
    "light",
    "dream",
    "fire",
    "heart",
    "rain",
    "city",
    "gold",
    "moon",
    "star",
    "ocean",
    "song",
    "dance",
    "wild",
    "time",
    "home",
    "free",
    "fly",
    "day",
    "way",
    "lost",
    "sky",
    "sun",
    "wind",
    "stone",
]
ARTISTS = [
    f"{a} {b}"
    for a in ("The", "Black", "Silver", "Electric", "Velvet", "Crimson")
    for b in ("Beatles", "Keys", "Wolves", "Echoes", "Tides", "Lights", "Rivers")
]
GENRES = ("Rock", "Jazz", "Folk", "Pop", "Blues", "Electronic", "Classical")
QUERIES = {
    "common word": "status:any love",
    "rare word": "status:any zanzibar",
    "prefix": "status:any drea*",
    "phrase": 'status:any "summer night"',
    "field": "status:any artist:wolves",
    "range": "status:any year:1965..1970",
    "size": "status:any size:>9MB",
    "combined+sort": "status:any rock year:>=2000 duration:>3m sort:-size",
    "negation": "status:any velvet -live",
    "or": "status:any (zanzibar OR kyoto)",
    "count only": "status:any blue",
}
# The LIKE scans the language replaces (the older ``text`` argument), in the same run.
LIKE = {"like: rare": "zanzibar", "like: common": "love"}


def _rows(n: int, start: int, rng: random.Random) -> tuple[list[tuple[object, ...]], ...]:
    items, meta, tagged = [], [], []
    for i in range(start, start + n):
        title = " ".join(rng.choices(WORDS, k=3))
        if i % 5000 == 0:
            title += " zanzibar"
        path = f"/lib/{rng.choice(GENRES)}/{rng.choice(ARTISTS)}/{title} {i}.mp3"
        items.append((i, path.encode(), path, path.rsplit("/", 1)[1], rng.randrange(10**7),
                      i, i))  # fmt: skip
        album = " ".join(rng.choices(WORDS, k=2))
        year, seconds = rng.randrange(1950, 2025), rng.uniform(60, 600)
        meta.append((i, title, rng.choice(ARTISTS), album, rng.choice(GENRES), year, seconds))
        if i % 10 == 0:
            tagged.append((i, 1 + i % 20))
    return items, meta, tagged


def _insert(
    conn: sqlite3.Connection, n: int, start: int, rng: random.Random, index: bool = False
) -> float:
    """Rows in batches of 10,000, each its own transaction; ``index``: each batch's rows of
    the word index written in the same transaction, as the writer does (searchindex.flush)."""
    begun = time.perf_counter()
    for at in range(start, start + n, 10000):
        items, meta, tagged = _rows(min(10000, start + n - at), at, rng)
        conn.executemany(
            "INSERT INTO media_items (id, root_id, path_key, path, name, size, mtime_ns, dev,"
            " inode, media_type, status, created_at, updated_at) VALUES"
            " (?, 1, ?, ?, ?, ?, ?, 1, ?, 'audio', 'present', '2026-01-01', '2026-01-01')",
            items,
        )
        conn.executemany(
            "INSERT INTO media_metadata (item_id, title, artist, album, genre, year, duration_s)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            meta,
        )
        conn.executemany("INSERT INTO item_tags (item_id, tag_id) VALUES (?, ?)", tagged)
        if index:
            low, high = items[0][0], items[-1][0]
            conn.execute(searchindex.DOCUMENT.format(where=f"i.id BETWEEN {low} AND {high}"))
        conn.commit()
    return time.perf_counter() - begun


async def _migrated(db: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    await migrate(engine)
    await engine.dispose()


def _catalog(db: Path, tree: Path) -> sqlite3.Connection:
    asyncio.run(_migrated(db))
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO roots (id, path) VALUES (1, ?)", (str(tree),))
    conn.executemany("INSERT INTO tags (id, name) VALUES (?, ?)",
                     [(t, f"tag{t}") for t in range(1, 21)])  # fmt: skip
    conn.commit()
    return conn


def build(work: Path, tree: Path, items: int) -> dict[str, float]:
    """The catalog; what the word index costs the writer (the same 20,000 rows with and
    without its rows in each batch); the index built in bulk, and the catalog's size before
    and after."""
    probe = min(20000, items)
    bare = _catalog(work / "bare.db", tree)
    without = _insert(bare, probe, 1, random.Random(1))
    bare.close()
    (work / "bare.db").unlink()
    with_db = _catalog(work / "with.db", tree)
    with_ = _insert(with_db, probe, 1, random.Random(1), index=True)
    with_db.close()
    (work / "with.db").unlink()
    db = work / "state" / "catalog.db"
    conn = _catalog(db, tree)
    total = _insert(conn, items, 1, random.Random(2))
    conn.execute("VACUUM")
    size_without = db.stat().st_size
    begun = time.perf_counter()
    conn.execute(searchindex.DOCUMENT.format(where="1"))
    conn.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
    conn.commit()
    built = time.perf_counter() - begun
    conn.execute("VACUUM")
    conn.close()
    return {"insert_s_without": without, "insert_s_with": with_, "insert_s_total": total,
            "index_build_s": built, "mb_without": size_without / 1e6,
            "mb_with": db.stat().st_size / 1e6}  # fmt: skip


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(sock: Path, repeat: int) -> dict[str, tuple[float, float, str]]:
    client = Client(sock, timeout=120)
    times: dict[str, list[float]] = {"ping": [], **{k: [] for k in QUERIES}}
    totals: dict[str, str] = {}
    for _ in range(repeat):
        for kind, q in QUERIES.items():
            begun = time.perf_counter()
            client.call("ping", {})
            times["ping"].append(time.perf_counter() - begun)
            begun = time.perf_counter()
            limit = 0 if kind == "count only" else 100
            reply = client.call("search", {"q": q, "limit": limit})
            times[kind].append(time.perf_counter() - begun)
            totals[kind] = f"{reply['total']}{'' if reply.get('total_exact', True) else '+'}"
        for kind, text in LIKE.items():
            if len(times.setdefault(kind, [])) >= min(repeat, 3):
                continue  # a whole scan each: three are enough
            begun = time.perf_counter()
            reply = client.call("search", {"text": text, "status": "any", "limit": 100})
            times[kind].append(time.perf_counter() - begun)
            totals[kind] = reply["total"]
    client.close()
    return {k: (_pct(v, 0.5) * 1000, _pct(v, 0.95) * 1000, totals.get(k, ""))
            for k, v in times.items()}  # fmt: skip


def _settled(client: Client) -> None:
    """Until the start-up reconcile is done (it marks every item missing: an empty root), so
    that the queries do not share the catalog with it."""
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        jobs = client.call("status", {})["jobs"]
        if jobs and all(j["complete"] for j in jobs):
            break
        time.sleep(0.5)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=30)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mfs"))
    tree = work / "tree"
    tree.mkdir()
    (work / "state").mkdir()
    try:
        cost = build(work, tree, opts.items)
        sock_dir = Path(tempfile.mkdtemp(prefix="mfs", dir="/tmp"))  # short: a socket path
        proc, sock = start_daemon(tree, work, sock_dir / "s", "watch = false\n")
        try:
            _settled(Client(sock, timeout=600))
            found = measure(sock, opts.repeat)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"items: {opts.items:,}; inserted in {cost['insert_s_total']:.1f} s; catalog "
        f"{cost['mb_without']:.0f} MB, {cost['mb_with']:.0f} MB with the word index "
        f"(built in bulk in {cost['index_build_s']:.1f} s)"
    )
    print(f"word index kept by the writer: 20,000 rows in {cost['insert_s_with']:.2f} s against "
          f"{cost['insert_s_without']:.2f} s without "
          f"({cost['insert_s_with'] / cost['insert_s_without']:.1f}x)")  # fmt: skip
    ping = found["ping"][0]
    print(f"{'kind':16} {'p50 ms':>8} {'p95 ms':>8} {'x ping':>7} {'matches':>8}  query")
    for kind, (p50, p95, total) in found.items():
        q = QUERIES.get(kind, "") or (f"text={LIKE[kind]}" if kind in LIKE else "")
        print(f"{kind:16} {p50:8.2f} {p95:8.2f} {p50 / ping:7.1f} {total:8}  {q}")


if __name__ == "__main__":
    main()
