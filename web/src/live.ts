// What changes while the page is open: the events WebSocket (WS /api/v1/events, README "HTTP
// API") and the streamed replies of the commands that wait for their work (rescan, retry).
//
// One socket for the whole page, open while some view listens. It reconnects after a drop
// with a growing delay, from the cursor of the last event it received (`since`), so nothing
// that happened in between is missed; when that cursor is gone from the change log (pruned)
// or refused, the listeners are told to reload what they show (`onResync`).
import { useEffect, useRef, useState } from "react";
import { ApiError } from "./api";

export interface ChangeEvent {
  cursor: number;
  at: string;
  kind: string; // added, changed, moved, missing, restored, failed, purged
  item: number | null;
  path: string;
  old_path?: string;
}

export interface JobProgress {
  job: number;
  kind: string;
  root: string;
  path: string;
  walked: number;
  queued: number;
  done: number;
  failed: number;
  gone: number;
  dropped: number;
  walk_finished: boolean;
  complete: boolean;
  cancelled: boolean;
  elapsed_s: number;
  rate_per_s: number | null;
  eta_s?: number | null;
}

export interface Listener {
  onEvent?: (event: ChangeEvent) => void;
  onJobs?: (jobs: JobProgress[]) => void;
  onResync?: () => void; // events may have been missed: reload
  onConnected?: (connected: boolean) => void;
}

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;
const FORGET_CURSOR = new Set([4400, 4410]); // a bad or pruned cursor: follow from now on

const listeners = new Set<Listener>();
let socket: WebSocket | null = null;
let cursor: number | null = null;
let delay = FIRST_DELAY_MS;
let timer: ReturnType<typeof setTimeout> | undefined;
let connected = false;

function each(call: (l: Listener) => void): void {
  listeners.forEach((l) => {
    try {
      call(l);
    } catch (err) {
      console.error(err);
    }
  });
}

function setConnected(value: boolean): void {
  connected = value;
  each((l) => l.onConnected?.(value));
}

function connect(): void {
  timer = undefined;
  const url = new URL("/api/v1/events", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  url.search = cursor === null ? "" : `?since=${cursor}`;
  const ws = new WebSocket(url);
  socket = ws;
  let resumed = cursor !== null;
  ws.onopen = () => {
    delay = FIRST_DELAY_MS;
    setConnected(true);
  };
  ws.onmessage = (message) => {
    let data: { event?: ChangeEvent; progress?: { jobs?: JobProgress[] } };
    try {
      data = JSON.parse(String(message.data));
    } catch {
      return;
    }
    if (data.event) {
      cursor = data.event.cursor;
      const event = data.event;
      each((l) => l.onEvent?.(event));
    } else if (data.progress?.jobs) {
      const jobs = data.progress.jobs;
      each((l) => l.onJobs?.(jobs));
    }
  };
  ws.onclose = (close) => {
    if (socket !== ws) return; // closed on purpose by the last listener's leaving
    socket = null;
    setConnected(false);
    if (FORGET_CURSOR.has(close.code) && resumed) {
      cursor = null;
      resumed = false;
      each((l) => l.onResync?.());
      delay = FIRST_DELAY_MS;
    }
    if (listeners.size) {
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  };
}

/** Listen to the page's events socket (opened with the first listener); returns the leave. */
export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  if (!socket && timer === undefined) connect();
  else if (connected) listener.onConnected?.(true);
  return () => {
    listeners.delete(listener);
    if (listeners.size) return;
    clearTimeout(timer);
    timer = undefined;
    const ws = socket;
    socket = null;
    connected = false;
    ws?.close(1000);
  };
}

/** `subscribe` for a component: the latest callbacks are called (no re-subscribing on every
 * render); says whether the socket is open. */
export function useLive(listener: Listener): boolean {
  const latest = useRef(listener);
  latest.current = listener;
  const [open, setOpen] = useState(connected);
  useEffect(
    () =>
      subscribe({
        onEvent: (e) => latest.current.onEvent?.(e),
        onJobs: (j) => latest.current.onJobs?.(j),
        onResync: () => latest.current.onResync?.(),
        onConnected: (c) => {
          setOpen(c);
          latest.current.onConnected?.(c);
        },
      }),
    [],
  );
  return open;
}

/** A command that streams its reply (rescan, retry, confirm): its NDJSON lines are read to
 * the end (a reader that stops would hold the command up), `onLine` sees each progress line,
 * and the final result is returned, or its error thrown. */
export async function streamCommand<T>(path: string, body: unknown, onLine?: (line: Record<string, unknown>) => void): Promise<T> {
  const response = await fetch(`/api/v1${path}`, {
    method: "POST",
    headers: { "X-Requested-With": "mediaforge-web", "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body ?? {}),
  });
  const fail = (reply: { error?: { code?: string; message?: string } } | null): never => {
    const error = reply?.error ?? {};
    throw new ApiError(response.status, error.code ?? "http", error.message ?? response.statusText);
  };
  if (!response.ok || !response.body || !(response.headers.get("content-type") ?? "").includes("ndjson")) {
    const reply = await response.json().catch(() => null);
    if (!response.ok || reply?.ok === false) fail(reply);
    return reply as T;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let last: { ok?: boolean; result?: T; error?: { code?: string; message?: string } } | null = null;
  for (;;) {
    const { done, value } = await reader.read();
    text += decoder.decode(value, { stream: !done });
    const lines = text.split("\n");
    text = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      const data = JSON.parse(line);
      if ("ok" in data) last = data;
      else onLine?.(data);
    }
    if (done) break;
  }
  if (!last || last.ok === false) fail(last);
  return last!.result as T;
}
