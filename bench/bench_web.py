"""The web page on a big catalog, in headless Chromium (Debian's, through Playwright):

    python bench/bench_web.py --items 100000 [--repeat 5]

Builds a catalog of ``--items`` image rows straight into SQLite (as bench_search.py does; no
real files: the root is empty, so the page is opened on ``?status=any``), each with one of 256
real WebP thumbnails, starts mediaforged on it with its HTTP API, logs in once, then measures
(medians of ``--repeat`` runs):

- first grid: a fresh load of the library until every tile in view shows its decoded
  thumbnail (performance.now() from the navigation's start);
- search redraw: from submitting the search box to the grid drawn with the new result's
  tiles (and until their thumbnails are decoded);
- scrolling 10,000 items: the grid scrolled by a fixed step per animation frame from the top
  to item 10,000; frames dropped = frame intervals past one refresh (16.7 ms), counted from
  requestAnimationFrame times, with the long tasks (> 50 ms) of the performance timeline.

``--bundle DIR`` (repeatable; ``daemon`` is the daemon's own) measures built bundles in turn,
round after round, each round beginning with another, in one browser on one daemon: a
change's before and after under the same load (copy mediaforged/http/static aside before
rebuilding). ``--trace FILE`` also records a Chromium trace of a 3,000-item scroll per
bundle and prints the CPU time per frame of the page's main thread and raster workers
(thread time: what the machine's load does not stretch, unlike frames dropped).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_search import WORDS, _catalog
from daemonproc import start_daemon
from PIL import Image

from mediaforged.catalog.schema import hash_key
from mediaforged.cli.main import Client
from mediaforged.extract.thumbnail import thumbnail_path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
        "--disable-background-networking", "--disable-component-update"]  # fmt: skip
HASHES = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(256)]
SEARCHES = ["love", "night", "summer", "river", "dream", "gold", "moon", "ocean", "stone", "sky"]


def _thumbnails(folder: Path) -> None:
    for i, sha in enumerate(HASHES):
        path = thumbnail_path(folder, sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (256, 192), (i, 255 - i, (i * 7) % 256)).save(path, "WEBP", quality=70)


def _insert(conn: sqlite3.Connection, tree: Path, n: int) -> None:
    rng = random.Random(1)
    for at in range(1, n + 1, 10000):
        items, meta = [], []
        for i in range(at, min(at + 10000, n + 1)):
            title = " ".join(rng.choices(WORDS, k=3))
            path = f"{tree}/{2000 + i % 25}/{i % 97:02d}/{title} {i}.jpg"
            sha = HASHES[i % len(HASHES)]
            items.append((i, path.encode(), path, path.rsplit("/", 1)[1], rng.randrange(10**7),
                          i, i, sha, hash_key(sha)))  # fmt: skip
            meta.append((i, title, 256, 192))
        conn.executemany(
            "INSERT INTO media_items (id, root_id, path_key, path, name, size, mtime_ns, dev,"
            " inode, file_hash, hash_key, mime_type, media_type, status, created_at, updated_at)"
            " VALUES (?, 1, ?, ?, ?, ?, ?, 1, ?, ?, ?, 'image/jpeg', 'image', 'present',"
            " '2026-01-01', '2026-01-01')",
            items,
        )
        conn.executemany(
            "INSERT INTO media_metadata (item_id, title, width, height, thumb_status)"
            " VALUES (?, ?, ?, ?, 'ok')",
            meta,
        )
        conn.commit()


_VISIBLE_LOADED = """() => {
  const grid = document.querySelector('.grid');
  const n = document.querySelector('.count')?.dataset.total;
  if (!grid || !n) return false;
  const box = grid.getBoundingClientRect();
  const seen = [...grid.querySelectorAll('.tile')].filter(t => {
    const r = t.getBoundingClientRect(); return r.bottom > box.top && r.top < box.bottom; });
  return seen.length > 0 && seen.every(t => { const i = t.querySelector('img');
    return i && i.complete && i.naturalWidth > 0; });
}"""

_SEARCH = """async (word) => {
  const input = document.querySelector('input[name=q]');
  const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  const frame = () => new Promise(r => requestAnimationFrame(r));
  set.call(input, word);
  input.dispatchEvent(new Event('input', { bubbles: true }));
  await frame();
  const t0 = performance.now();
  input.form.requestSubmit();
  let drawn = null;
  for (;;) {
    await frame();
    const n = document.querySelector('.count')?.dataset.total;
    const tiles = document.querySelectorAll('.tile[data-id]');
    if (drawn === null && n && new URLSearchParams(location.search).get('q') === word
        && tiles.length && tiles[0].title.includes(word)) drawn = performance.now() - t0;
    if (drawn !== null && [...tiles].slice(0, 12).every(t => { const i = t.querySelector('img');
        return i && i.complete && i.naturalWidth > 0; })) return [drawn, performance.now() - t0];
    if (performance.now() - t0 > 30000) return [drawn ?? -1, -1];
  }
}"""

_SCROLL = """async (items) => {
  const grid = document.querySelector('.grid');
  const tile = document.querySelector('.tile');
  const cols = Math.max(1, Math.floor((grid.clientWidth - 8) / (tile.offsetWidth + 8)));
  const end = Math.ceil(items / cols) * (tile.offsetWidth + 8);
  const long = [];
  const obs = new PerformanceObserver(l => long.push(...l.getEntries().map(e => e.duration)));
  obs.observe({ type: 'longtask', buffered: false });
  const step = 400;  // px per frame: about 24,000 px/s at 60 Hz, a fast fling
  const times = [];
  grid.scrollTop = 0;
  await new Promise(r => requestAnimationFrame(r));
  const began = performance.now();
  // Down to item `items` (or the end of a smaller library), for at most a minute.
  while (grid.scrollTop < Math.min(end, grid.scrollHeight) - grid.clientHeight - 1
         && performance.now() - began < 60000) {
    await new Promise(r => requestAnimationFrame(t => { times.push(t); r(); }));
    grid.scrollTop += step;
  }
  obs.disconnect();
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  const frame = 1000 / 60;
  const dropped = gaps.reduce((s, g) => s + Math.max(0, Math.round(g / frame) - 1), 0);
  return { frames: times.length, dropped, worst_ms: Math.max(...gaps),
           seconds: (times[times.length - 1] - times[0]) / 1000, long_tasks: long.length,
           long_ms: long.reduce((a, b) => a + b, 0), cols };
}"""


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _serve_bundle(context: Any, folder: Path) -> None:
    """The page's files from ``folder`` (a built web/ bundle) instead of the daemon's; the
    API still goes to the daemon. Any other path is the page's own route: index.html."""
    files = {"/" + str(f.relative_to(folder)): f for f in folder.rglob("*") if f.is_file()}

    def handle(route: Any) -> None:
        path = urlsplit(route.request.url).path
        if path.startswith("/api/"):
            route.continue_()
        else:
            route.fulfill(path=str(files.get(path, folder / "index.html")))

    context.route("**/*", handle)


def _trace_summary(path: Path, top: int = 12) -> dict[str, Any]:
    """The scrolling page's renderer in a Chromium trace: the CPU time (thread time, which the
    machine's load does not stretch) of its main thread and its raster workers, and the main
    thread's events by name, self CPU time."""
    events = json.loads(path.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    names = {
        (e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("name") == "thread_name"
    }
    spans = sorted(
        (e for e in events if e.get("ph") == "X" and "dur" in e), key=lambda e: (e["ts"], -e["dur"])
    )
    frames: dict[tuple[int, int], int] = {}
    for e in spans:
        if e["name"] == "FireAnimationFrame":
            frames[(e["pid"], e["tid"])] = frames.get((e["pid"], e["tid"]), 0) + 1
    main = max(frames, key=lambda k: frames[k])
    cpu: dict[str, float] = {}
    ends: dict[tuple[int, int], float] = {}
    own: dict[str, float] = {}
    stack: list[dict[str, Any]] = []
    for e in spans:
        key = (e["pid"], e["tid"])
        if key[0] != main[0]:
            continue
        if e["ts"] >= ends.get(key, 0):  # a top-level event of its thread
            thread = names.get(key, "?")
            cpu[thread] = cpu.get(thread, 0.0) + e.get("tdur", 0) / 1000
            ends[key] = e["ts"] + e["dur"]
        if key == main:
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
                stack.pop()
            if stack:
                own[stack[-1]["name"]] = own.get(stack[-1]["name"], 0.0) - e.get("tdur", 0) / 1000
            own[e["name"]] = own.get(e["name"], 0.0) + e.get("tdur", 0) / 1000
            stack.append(e)
    return {
        "main_cpu_ms": cpu.get("CrRendererMain", 0.0),
        "raster_cpu_ms": cpu.get("ThreadPoolForegroundWorker", 0.0),
        "events": sorted(own.items(), key=lambda kv: -kv[1])[:top],
    }


def _round(page: Any, base: str, word: str, out: dict[str, Any]) -> None:
    """One of each measure, on a page logged in already."""
    page.goto(f"{base}/?status=any")  # a fresh load, logged in by the cookie
    page.wait_for_function(_VISIBLE_LOADED, polling="raf")
    out["first_grid_ms"].append(page.evaluate("() => performance.now()"))
    drawn, thumbs = page.evaluate(_SEARCH, word)
    out["search_drawn_ms"].append(drawn)
    out["search_thumbs_ms"].append(thumbs)
    page.goto(f"{base}/?status=any")
    page.wait_for_function(_VISIBLE_LOADED, polling="raf")
    out["scroll"].append(page.evaluate(_SCROLL, 10000))


def measure(
    base: str, token: str, repeat: int, bundles: list[Path | None], trace: Path | None
) -> dict[str, dict[str, Any]]:
    """Each bundle (None: the daemon's own) measured in turn, round after round, so that they
    share the machine's load alike."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - a dev dependency

    found: dict[str, dict[str, Any]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        pages = {}
        for bundle in bundles:
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            context.set_default_timeout(120_000)
            if bundle is not None:
                _serve_bundle(context, bundle)
            page = context.new_page()
            page.goto(f"{base}/?status=any#token={token}")
            page.wait_for_selector(".who")
            name = str(bundle) if bundle else "the daemon's bundle"
            pages[name] = page
            found[name] = {"first_grid_ms": [], "search_drawn_ms": [], "search_thumbs_ms": [],
                           "scroll": []}  # fmt: skip
        _say(f"logged in; {repeat} rounds of {len(pages)} bundle(s)")
        names = list(pages)
        for n in range(repeat):  # each round begins with another bundle: no order favours one
            for name in names[n % len(names) :] + names[: n % len(names)]:
                page = pages[name]
                _round(page, base, SEARCHES[n % len(SEARCHES)], found[name])
                s, ms = found[name]["scroll"][-1], found[name]["first_grid_ms"][-1]
                _say(f"round {n + 1}, {name}: first grid {ms:.0f} ms, "
                     f"{s['dropped']} of {s['frames'] + s['dropped']} frames dropped")  # fmt: skip
        if trace is not None:
            for n, (name, page) in enumerate(pages.items()):
                where = trace.with_name(f"{trace.stem}-{n}{trace.suffix}")
                page.goto(f"{base}/?status=any")
                page.wait_for_function(_VISIBLE_LOADED, polling="raf")
                browser.start_tracing(page=page, path=str(where))
                scrolled = page.evaluate(_SCROLL, 3000)
                browser.stop_tracing()
                found[name]["trace"] = (where, scrolled["frames"], _trace_summary(where))
        browser.close()
    return found


def _report(name: str, found: dict[str, Any]) -> None:
    med = statistics.median
    print(f"{name}:")
    print(f"  first grid of thumbnails: median {med(found['first_grid_ms']):.0f} ms "
          f"(runs: {', '.join(f'{v:.0f}' for v in found['first_grid_ms'])})")  # fmt: skip
    print(f"  search redraw: median {med(found['search_drawn_ms']):.0f} ms to the new tiles, "
          f"{med(found['search_thumbs_ms']):.0f} ms to their thumbnails "
          f"(runs: {', '.join(f'{v:.0f}' for v in found['search_drawn_ms'])})")  # fmt: skip
    share = [100 * s["dropped"] / (s["frames"] + s["dropped"]) for s in found["scroll"]]
    print(f"  scroll 10,000 items: median {med(share):.1f} % of frames dropped, worst frame "
          f"median {med(s['worst_ms'] for s in found['scroll']):.0f} ms, long tasks median "
          f"{med(s['long_tasks'] for s in found['scroll'])}")  # fmt: skip
    for s in found["scroll"]:
        print(f"    {s['cols']} columns in {s['seconds']:.1f} s: "
              f"{s['frames']} frames, {s['dropped']} dropped "
              f"({100 * s['dropped'] / (s['frames'] + s['dropped']):.1f} %), worst frame "
              f"{s['worst_ms']:.0f} ms, {s['long_tasks']} long tasks "
              f"({s['long_ms']:.0f} ms)")  # fmt: skip
    if "trace" in found:
        where, frames, t = found["trace"]
        main, raster = t["main_cpu_ms"] / frames, t["raster_cpu_ms"] / frames
        print(f"  trace of a 3,000-item scroll ({where}, {frames} frames): CPU per frame "
              f"{main:.2f} ms main thread, {raster:.2f} ms raster; by event:")  # fmt: skip
        for event, ms in t["events"]:
            print(f"    {ms:8.0f} ms  {event}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--bundle",
        type=Path,
        action="append",
        help="a built web/ bundle (a copy of mediaforged/http/static) to measure, in turn with"
        " the others given; 'daemon' is the daemon's own (default: that one alone)",
    )
    parser.add_argument("--trace", type=Path, help="also write a Chromium trace of a scroll")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mfw"))
    tree = work / "tree"
    tree.mkdir()
    (work / "state").mkdir()
    try:
        begun = time.perf_counter()
        conn = _catalog(work / "state" / "catalog.db", tree)
        _insert(conn, tree, opts.items)
        conn.close()
        _thumbnails(work / "thumbs")
        built = time.perf_counter() - begun
        sock_dir = Path(tempfile.mkdtemp(prefix="mfw", dir="/tmp"))
        extra = (f'http_listen = "127.0.0.1:0"\nwatch = false\n'
                 f"thumbnail_dir = {json.dumps(str(work / 'thumbs'))}\n")  # fmt: skip
        _say(f"catalog of {opts.items:,} items built in {built:.1f} s; starting mediaforged")
        proc, sock = start_daemon(tree, work, sock_dir / "s", extra)
        try:
            client = Client(sock, timeout=600)
            deadline = time.monotonic() + 120
            while not (base := client.call("status", {}).get("http")):
                if time.monotonic() > deadline:
                    raise SystemExit("the daemon's HTTP API did not start")
                time.sleep(0.1)
            client.close()
            token_file = work / "state" / "admin.token"  # written once the API listens
            while not token_file.exists():
                if time.monotonic() > deadline:
                    raise SystemExit(f"no first admin token at {token_file}")
                time.sleep(0.1)
            token = token_file.read_text().strip()
            bundles = [None if str(b) == "daemon" else b.resolve() for b in opts.bundle or []]
            found = measure(base, token, opts.repeat, bundles or [None], opts.trace)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if "sock_dir" in locals():
            shutil.rmtree(sock_dir, ignore_errors=True)
    print(f"items: {opts.items:,} (catalog built in {built:.1f} s); rounds: {opts.repeat}")
    for name, one in found.items():
        _report(name, one)


if __name__ == "__main__":
    main()
