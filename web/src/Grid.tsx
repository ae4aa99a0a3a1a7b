import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { search, thumbnailUrl, type SearchItem } from "./api";
import { navigate } from "./router";
import { useLive } from "./live";

const PAGE = 300; // items per keyset page
const GAP = 8;
const OVERSCAN = 3; // rows drawn above and below the visible ones
const LIVE_WAIT_MS = 1000; // a burst of changes costs one reload
const THUMB_CHECKS = 15; // reloads (every 2 s) waiting for the thumbnails of new items
const MAX_RELOAD = 10000; // the API's largest page

interface State {
  items: SearchItem[];
  total: number | null;
  exact: boolean; // false: total is where the daemon stopped counting ("10,000+")
  cursor: string | null;
  done: boolean;
  error: string;
}

const EMPTY: State = { items: [], total: null, exact: true, cursor: null, done: false, error: "" };

function Tile({ item, index, size, focused }: { item: SearchItem | undefined; index: number; size: number; focused: boolean }) {
  const style = { width: size, height: size };
  if (!item) return <div className="tile placeholder" style={style} />;
  const url = thumbnailUrl(item);
  const name = item.path.split("/").pop() ?? item.path;
  return (
    <a href={`/item/${item.id}`} className="tile" style={style} data-index={index} data-id={item.id} tabIndex={focused ? 0 : -1} title={item.path}>
      {url ? <img src={url} alt={item.title ?? name} width={size} height={size} loading="lazy" decoding="async" /> : <span className="nothumb">{name}</span>}
      <span className={`badge ${item.media_type}`}>{item.media_type}</span>
      <span className="caption">{name}</span>
    </a>
  );
}

interface RowProps {
  row: number;
  columns: number;
  count: number; // tiles in the whole result
  tile: number;
  rowHeight: number;
  items: SearchItem[];
  focus: number;
}

/** A row is drawn again only when one of its own items, its place or the focus in it
 * changed: scrolling adds the rows coming into view and leaves the others as they are. */
function sameRow(a: RowProps, b: RowProps): boolean {
  if (a.row !== b.row || a.columns !== b.columns || a.count !== b.count || a.tile !== b.tile || a.rowHeight !== b.rowHeight) return false;
  const start = a.row * a.columns;
  const end = start + a.columns;
  const inside = (f: number) => f >= start && f < end;
  if ((inside(a.focus) || inside(b.focus)) && a.focus !== b.focus) return false;
  for (let i = start; i < end; i++) if (a.items[i] !== b.items[i]) return false;
  return true;
}

const Row = memo(function Row({ row, columns, count, tile, rowHeight, items, focus }: RowProps) {
  const tiles = [];
  for (let i = row * columns; i < Math.min(count, (row + 1) * columns); i++) {
    const item = items[i];
    tiles.push(<Tile key={item ? item.id : `p${i}`} item={item} index={i} size={tile} focused={i === focus} />);
  }
  return (
    <div className="grid-row" role="none" style={{ transform: `translateY(${row * rowHeight}px)`, height: rowHeight, gap: GAP, paddingLeft: GAP }}>
      {tiles}
    </div>
  );
}, sameRow);

/** The thumbnails of a search, windowed: only the rows in view (and a few around) are in the
 * DOM, and keyset pages are fetched in order as the view nears the end of what is loaded. */
export function Grid({ filters, text }: { filters: Record<string, string | string[] | undefined>; text: string }) {
  const [state, setState] = useState<State>(EMPTY);
  const loading = useRef(false);
  const generation = useRef(0);
  const box = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState({ width: 800, height: 600 });
  const [topRow, setTopRow] = useState(0); // the first row in view
  const shownRow = useRef(0);
  shownRow.current = topRow;
  const rowPx = useRef(188);
  const [focus, setFocus] = useState(0);

  const load = useCallback(
    async (from: State) => {
      if (loading.current || from.done) return;
      loading.current = true;
      const mine = generation.current;
      try {
        const reply = await search(filters, text, from.cursor, PAGE);
        if (mine !== generation.current) return;
        setState({ items: from.items.concat(reply.items), total: reply.total, exact: reply.total_exact !== false, cursor: reply.next_cursor, done: reply.next_cursor === null, error: "" });
      } catch (err) {
        if (mine === generation.current) setState({ ...from, done: true, error: err instanceof Error ? err.message : String(err) });
      } finally {
        if (mine === generation.current) loading.current = false;
      }
    },
    [filters, text],
  );

  useEffect(() => {
    generation.current++;
    loading.current = false;
    setState(EMPTY);
    box.current?.scrollTo(0, 0);
    load(EMPTY);
  }, [load]);

  // Live: a change in the catalog reloads the items loaded so far in place (the scroll stays),
  // at most once a second however fast changes come. New items get their thumbnails a moment
  // later (no event says so): reload every 2 s for a while until they have them.
  const latest = useRef(state);
  latest.current = state;
  const waiting = useRef(new Set<number>());
  const reload = useRef<ReturnType<typeof setTimeout>>();
  const checks = useRef(0);
  const asked = useRef(0); // the newest reload asked for: an older answer is dropped
  const refresh = useCallback(async () => {
    reload.current = undefined;
    const mine = generation.current;
    const seq = ++asked.current;
    const have = latest.current.items.length;
    try {
      const reply = await search(filters, text, null, Math.min(Math.max(have, PAGE), MAX_RELOAD));
      if (mine !== generation.current || seq !== asked.current) return;
      setState({ items: reply.items, total: reply.total, exact: reply.total_exact !== false, cursor: reply.next_cursor, done: reply.next_cursor === null, error: "" });
      for (const item of reply.items) if (item.thumbnail || item.media_type === "audio" || item.media_type === "other") waiting.current.delete(item.id);
    } catch {
      return; // the next change tries again
    }
    if (reload.current !== undefined) return; // a change came meanwhile: its reload is due
    if (waiting.current.size && checks.current++ < THUMB_CHECKS) reload.current = setTimeout(refresh, 2000);
    else waiting.current.clear();
  }, [filters, text]);
  useEffect(
    () => () => {
      clearTimeout(reload.current);
      reload.current = undefined;
    },
    [refresh],
  );
  const soon = () => {
    checks.current = 0;
    if (reload.current !== undefined) return; // one is due, and sees this change too
    reload.current = setTimeout(refresh, LIVE_WAIT_MS);
  };
  useLive({
    onEvent: (event) => {
      if (event.item !== null && (event.kind === "added" || event.kind === "changed" || event.kind === "restored")) waiting.current.add(event.item);
      soon();
    },
    onResync: soon,
  });

  // The grid is drawn again when the first row in view changes, not at every scroll event:
  // at most once a frame, from the frame's animation callback. (Drawing the new rows inside
  // that frame, with flushSync, dropped more frames on a loaded machine: bench_web.py.)
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    let frame = 0;
    const row = () => Math.floor(el.scrollTop / rowPx.current);
    const measure = () => {
      setSize((old) => (old.width === el.clientWidth && old.height === el.clientHeight ? old : { width: el.clientWidth, height: el.clientHeight }));
      setTopRow(row());
    };
    const onScroll = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        const next = row();
        if (next !== shownRow.current) setTopRow(next);
      });
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    el.addEventListener("scroll", onScroll, { passive: true });
    return () => {
      cancelAnimationFrame(frame);
      observer.disconnect();
      el.removeEventListener("scroll", onScroll);
    };
  }, []);

  const tile = size.width < 500 ? Math.floor((size.width - GAP) / 2) - GAP : 180;
  const columns = Math.max(1, Math.floor((size.width - GAP) / (tile + GAP)));
  const rowHeight = tile + GAP;
  rowPx.current = rowHeight;
  // A capped count is a floor: the grid grows by a page past what is loaded until the end.
  const loaded = state.items.length + (state.done ? 0 : PAGE);
  const count = state.total === null ? state.items.length : state.exact ? state.total : Math.max(state.total, loaded);
  const rows = Math.ceil(count / columns);
  const first = Math.max(0, topRow - OVERSCAN);
  // The rows in view are topRow to topRow + ceil(height / rowHeight) at most.
  const last = Math.min(rows, topRow + Math.ceil(size.height / rowHeight) + OVERSCAN);

  // More pages while the rows in view reach past what is loaded.
  useEffect(() => {
    if (!state.done && state.items.length > 0 && last * columns >= state.items.length - columns) load(state);
  }, [last, columns, state, load]);

  const onKey = (event: React.KeyboardEvent) => {
    const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, PageDown: columns * 4, PageUp: -columns * 4 };
    const move = moves[event.key];
    if (move === undefined) return;
    event.preventDefault();
    const next = Math.max(0, Math.min(state.items.length - 1, focus + move));
    setFocus(next);
    const el = box.current;
    if (el) {
      const top = Math.floor(next / columns) * rowHeight;
      if (top < el.scrollTop) el.scrollTop = top;
      else if (top + rowHeight > el.scrollTop + el.clientHeight) el.scrollTop = top + rowHeight - el.clientHeight;
    }
    requestAnimationFrame(() => box.current?.querySelector<HTMLElement>(`[data-index="${next}"]`)?.focus());
  };

  const drawn = [];
  for (let r = first; r < last; r++) {
    drawn.push(<Row key={r} row={r} columns={columns} count={count} tile={tile} rowHeight={rowHeight} items={state.items} focus={focus} />);
  }
  // One handler for every tile (delegated): a tile holds no callbacks of its own, so that a
  // row drawn once stays as it is.
  const onClick = (event: React.MouseEvent) => {
    const link = (event.target as Element).closest?.("a.tile[data-id]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(link.getAttribute("href") ?? "/");
  };
  const onFocus = (event: React.FocusEvent) => {
    const index = (event.target as HTMLElement).dataset?.index;
    if (index !== undefined) setFocus(Number(index));
  };
  return (
    <section className="results" aria-label="Library">
      <p className="count" aria-live="polite" data-total={state.total ?? ""}>
        {state.error ? <span className="error" role="alert">{state.error}</span> : state.total === null ? "Searching…" : `${state.total.toLocaleString()}${state.exact ? "" : "+"} item${state.total === 1 && state.exact ? "" : "s"}`}
      </p>
      <div className="grid" ref={box} onKeyDown={onKey} onClick={onClick} onFocus={onFocus} role="list">
        <div className="grid-inner" style={{ height: rows * rowHeight + GAP }}>{drawn}</div>
      </div>
    </section>
  );
}
