// The daemon's HTTP API (README "HTTP API"): the session cookie from POST /api/v1/login, and
// X-Requested-With on every request, which the API takes as the same-origin proof it asks
// of a cookie's state-changing request.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

type Params = Record<string, string | number | string[] | undefined>;

export function query(params: Params): string {
  const out = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => out.append(key, v));
    else out.set(key, String(value));
  }
  const text = out.toString();
  return text ? `?${text}` : "";
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { "X-Requested-With": "mediaforge-web" };
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api/v1${path}`, {
    method: init.method ?? "GET",
    headers,
    credentials: "same-origin",
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const reply = await response.json().catch(() => null);
  if (!response.ok || (reply && reply.ok === false)) {
    const error = reply?.error ?? {};
    throw new ApiError(response.status, error.code ?? "http", error.message ?? response.statusText);
  }
  return reply as T;
}

export interface SearchItem {
  id: number;
  path: string;
  media_type: string;
  mime_type: string | null;
  size: number;
  status: string;
  created_at: string;
  taken_at: string | null;
  width: number | null;
  height: number | null;
  duration_s: number | null;
  title: string | null;
  artist: string | null;
  thumbnail: string | null;
}

export interface SearchReply {
  total: number;
  total_exact?: boolean; // false: `total` is a floor (the daemon stops counting at 10,000)
  items: SearchItem[];
  next_cursor: string | null;
}

export interface ItemEvent {
  cursor: number;
  at: string;
  kind: string;
  path: string | null;
  old_path: string | null;
}

export interface InfoReply {
  item: Record<string, string | number | null> & { id: number; path: string; name: string; media_type: string; mime_type: string | null; size: number; file_hash: string | null; status: string };
  thumbnail?: string | null;
  metadata: Record<string, unknown>;
  tags: string[];
  collections: string[];
  same_content: string[];
  copies?: { id: number; path: string }[]; // an older daemon: same_content only
  history?: ItemEvent[];
}

export interface FolderEntry {
  name: string;
  path: string;
  items: number;
  bytes: number;
}

export interface FoldersReply {
  path: string | null;
  root: string | null;
  items: number;
  bytes: number;
  folders: FolderEntry[];
  more: boolean;
}

export interface DuplicateCopy {
  id: number;
  path: string;
  media_type?: string;
  thumbnail?: string | null;
}

export interface DuplicateGroup {
  id?: string; // TIER:HASH16, what POST /duplicates/merge takes (an older daemon: none)
  tier?: string; // exact, same-content or near
  file_hash: string;
  size: number;
  copies: number;
  wasted_bytes: number;
  keep?: number; // the copy to keep
  keep_reason?: string;
  items: DuplicateCopy[];
}

export interface DuplicatesReply {
  groups: number;
  tiers?: Record<string, number>;
  wasted_bytes: number;
  duplicates: DuplicateGroup[];
}

export interface MergeReply {
  group: string;
  kept: number;
  others: number[];
  tags: number;
  collections: number;
}

export interface Session {
  name: string;
  scope: "read" | "admin";
}

/** The thumbnail's URL: its file name is the content's hash, which makes the URL immutable. */
export function thumbnailUrl(item: { id: number; thumbnail: string | null }): string | null {
  if (!item.thumbnail) return null;
  const name = item.thumbnail.split("/").pop() ?? "";
  return `/api/v1/items/${item.id}/thumbnail?v=${encodeURIComponent(name.replace(/\.webp$/, ""))}`;
}

export const contentUrl = (id: number) => `/api/v1/items/${id}/content`;

// The search box's text goes to `q` (the query language of `mediaforgectl search`) when
// this daemon knows it; an older one refuses the argument (bad_request naming q): `text`.
let queryArg: "q" | "text" = "q";

export async function search(filters: Params, text: string, cursor: string | null, limit: number): Promise<SearchReply> {
  const ask = (name: string) =>
    api<SearchReply>(`/items${query({ ...filters, [name]: text || undefined, cursor: cursor ?? undefined, limit })}`);
  if (!text) return ask(queryArg);
  try {
    return await ask(queryArg);
  } catch (err) {
    if (queryArg === "q" && err instanceof ApiError && err.code === "bad_request" && /(^|; )q: Extra inputs are not permitted/.test(err.message)) {
      queryArg = "text";
      return ask(queryArg);
    }
    throw err;
  }
}

export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function formatDuration(s: number): string {
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** How long ago an epoch-seconds time was, in words. */
export function ago(epoch: number | null): string {
  if (!epoch) return "never";
  const s = Math.max(0, Date.now() / 1000 - epoch);
  return s < 90 ? `${Math.round(s)} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : new Date(epoch * 1000).toLocaleString();
}
