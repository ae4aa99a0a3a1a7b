import { useEffect, useMemo, useState } from "react";
import { api } from "./api";
import { navigate, useLocation } from "./router";
import { Grid } from "./Grid";

// Every filter of the view, as it appears in the page's URL; the API's name when it differs.
export const FILTER_KEYS = ["type", "root", "folder", "tag", "collection", "status", "taken_from", "taken_to", "added_from", "added_to", "sort"] as const;
const SORTS: [string, string][] = [
  ["path", "Path"],
  ["name", "Name"],
  ["-taken", "Taken (newest)"],
  ["taken", "Taken (oldest)"],
  ["-added", "Added (newest)"],
  ["added", "Added (oldest)"],
  ["-size", "Size (largest)"],
  ["size", "Size (smallest)"],
  ["-duration", "Duration (longest)"],
  ["duration", "Duration (shortest)"],
];

interface Choices {
  roots: string[];
  tags: string[];
  collections: string[];
}

function useChoices(): Choices {
  const [choices, setChoices] = useState<Choices>({ roots: [], tags: [], collections: [] });
  useEffect(() => {
    Promise.all([
      api<{ roots: { path: string }[] }>("/roots").catch(() => ({ roots: [] })),
      api<{ tags?: { tag: string }[] }>("/tags").catch(() => ({ tags: [] })),
      api<{ collections: { collection: string }[] }>("/collections").catch(() => ({ collections: [] })),
    ]).then(([r, t, c]) =>
      setChoices({ roots: r.roots.map((x) => x.path), tags: (t.tags ?? []).map((x) => x.tag), collections: c.collections.map((x) => x.collection) }),
    );
  }, []);
  return choices;
}

/** The URL's filters as the API's search arguments. */
export function apiFilters(params: URLSearchParams): Record<string, string | string[] | undefined> {
  const get = (k: string) => params.get(k) ?? undefined;
  return {
    type: get("type"),
    under: get("folder") ?? get("root"),
    tags: params.getAll("tag"),
    collection: get("collection"),
    status: get("status"),
    taken_from: get("taken_from"),
    taken_to: get("taken_to"),
    added_from: get("added_from"),
    added_to: get("added_to"),
    sort: get("sort") ?? "path",
  };
}

function setParam(params: URLSearchParams, key: string, value: string, replace = false): void {
  const next = new URLSearchParams(params);
  if (value) next.set(key, value);
  else next.delete(key);
  const text = next.toString();
  navigate(`/${text ? `?${text}` : ""}`, replace);
}

export function Library() {
  const { params } = useLocation();
  const choices = useChoices();
  const text = params.get("q") ?? "";
  const [typed, setTyped] = useState(text);
  useEffect(() => setTyped(text), [text]);
  // The URL follows the box a moment after typing stops (replacing, not adding, history).
  useEffect(() => {
    if (typed === text) return;
    const timer = setTimeout(() => setParam(params, "q", typed, true), 250);
    return () => clearTimeout(timer);
  }, [typed]); // eslint-disable-line react-hooks/exhaustive-deps
  const filters = useMemo(() => apiFilters(params), [params.toString()]); // eslint-disable-line react-hooks/exhaustive-deps
  const select = (key: string, label: string, options: [string, string][]) => (
    <label>
      {label}
      <select name={key} value={params.get(key) ?? ""} onChange={(e) => setParam(params, key, e.target.value)}>
        {options.map(([value, name]) => (
          <option key={value} value={value}>{name}</option>
        ))}
      </select>
    </label>
  );
  const date = (key: string, label: string) => (
    <label>
      {label}
      <input type="date" name={key} value={params.get(key) ?? ""} onChange={(e) => setParam(params, key, e.target.value)} />
    </label>
  );
  const any = (values: string[]): [string, string][] => [["", "any"], ...values.map((v): [string, string] => [v, v])];
  return (
    <div className="library">
      <form className="filters" role="search" onSubmit={(e) => { e.preventDefault(); setParam(params, "q", typed); }}>
        <input type="search" name="q" placeholder="Search: names, titles, artists…" aria-label="Search" value={typed} onChange={(e) => setTyped(e.target.value)} />
        {select("type", "Type", any(["image", "video", "audio", "other"]))}
        {select("root", "Root", any(choices.roots))}
        <label>
          Folder
          <input name="folder" placeholder="/absolute/folder" defaultValue={params.get("folder") ?? ""} key={params.get("folder") ?? ""} onBlur={(e) => setParam(params, "folder", e.target.value.trim())} onKeyDown={(e) => { if (e.key === "Enter") { e.preventDefault(); setParam(params, "folder", e.currentTarget.value.trim()); } }} />
        </label>
        {select("tag", "Tag", any(choices.tags))}
        {select("collection", "Collection", any(choices.collections))}
        {select("status", "Status", [["", "present"], ["missing", "missing"], ["failed", "failed"], ["offline", "offline"], ["any", "any"]])}
        {date("taken_from", "Taken from")}
        {date("taken_to", "to")}
        {date("added_from", "Added from")}
        {date("added_to", "to")}
        {select("sort", "Sort", SORTS)}
        {FILTER_KEYS.some((k) => params.has(k)) || params.has("q") ? (
          <button type="button" onClick={() => navigate("/")}>Clear</button>
        ) : null}
      </form>
      <Grid filters={filters} text={text} />
    </div>
  );
}
