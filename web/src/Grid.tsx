import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
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
  cursor: string | null;
  done: boolean;
  error: string;
}

const EMPTY: State = { items: [], total: null, cursor: null, done: false, error: "" };

/** The thumbnails of a search, windowed: only the rows in view (and a few around) are in the
 * DOM, and keyset pages are fetched in order as the view nears the end of what is loaded. */
export function Grid({ filters, text }: { filters: Record<string, string | string[] | undefined>; text: string }) {
  const [state, setState] = useState<State>(EMPTY);
  const loading = useRef(false);
  const generation = useRef(0);
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ width: 800, height: 600, top: 0 });
  const [focus, setFocus] = useState(0);

  const load = useCallback(
    async (from: State) => {
      if (loading.current || from.done) return;
      loading.current = true;
      const mine = generation.current;
      try {
        const reply = await search(filters, text, from.cursor, PAGE);
        if (mine !== generation.current) return;
        setState({ items: from.items.concat(reply.items), total: reply.total, cursor: reply.next_cursor, done: reply.next_cursor === null, error: "" });
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
      setState({ items: reply.items, total: reply.total, cursor: reply.next_cursor, done: reply.next_cursor === null, error: "" });
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

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setView({ width: el.clientWidth, height: el.clientHeight, top: el.scrollTop });
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    el.addEventListener("scroll", measure, { passive: true });
    return () => {
      observer.disconnect();
      el.removeEventListener("scroll", measure);
    };
  }, []);

  const tile = view.width < 500 ? Math.floor((view.width - GAP) / 2) - GAP : 180;
  const columns = Math.max(1, Math.floor((view.width - GAP) / (tile + GAP)));
  const rowHeight = tile + GAP;
  const count = state.total ?? state.items.length;
  const rows = Math.ceil(count / columns);
  const first = Math.max(0, Math.floor(view.top / rowHeight) - OVERSCAN);
  const last = Math.min(rows, Math.ceil((view.top + view.height) / rowHeight) + OVERSCAN);

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

  const tiles = [];
  for (let i = first * columns; i < Math.min(count, last * columns); i++) {
    const style = { top: Math.floor(i / columns) * rowHeight, left: GAP + (i % columns) * (tile + GAP), width: tile, height: tile };
    const item = state.items[i];
    if (!item) {
      tiles.push(<div key={`p${i}`} className="tile placeholder" style={style} />);
      continue;
    }
    const url = thumbnailUrl(item);
    const name = item.path.split("/").pop() ?? item.path;
    tiles.push(
      <a
        key={item.id}
        href={`/item/${item.id}`}
        className="tile"
        style={style}
        data-index={i}
        data-id={item.id}
        tabIndex={i === focus ? 0 : -1}
        title={item.path}
        onFocus={() => setFocus(i)}
        onClick={(e) => {
          if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
          e.preventDefault();
          navigate(`/item/${item.id}`);
        }}
      >
        {url ? <img src={url} alt={item.title ?? name} loading="lazy" decoding="async" /> : <span className="nothumb">{name}</span>}
        <span className={`badge ${item.media_type}`}>{item.media_type}</span>
        <span className="caption">{name}</span>
      </a>,
    );
  }
  return (
    <section className="results" aria-label="Library">
      <p className="count" aria-live="polite" data-total={state.total ?? ""}>
        {state.error ? <span className="error" role="alert">{state.error}</span> : state.total === null ? "Searching…" : `${state.total.toLocaleString()} item${state.total === 1 ? "" : "s"}`}
      </p>
      <div className="grid" ref={box} onKeyDown={onKey} role="list">
        <div className="grid-inner" style={{ height: rows * rowHeight + GAP }}>{tiles}</div>
      </div>
    </section>
  );
}
