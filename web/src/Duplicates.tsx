import { useEffect, useState } from "react";
import { api, formatBytes, query, thumbnailUrl, type DuplicateGroup, type DuplicatesReply, type MergeReply } from "./api";
import { navigate, onLink, useLocation } from "./router";

const PAGE = 50; // groups per request

// The tiers of `mediaforgectl duplicates`, in the daemon's order, and what each means.
export const TIERS: [string, string, string][] = [
  ["exact", "Exact", "the same bytes"],
  ["same-content", "Same content", "the same pixels or sound in another file (other container or tags)"],
  ["near", "Near", "the same picture or recording at another size, compression or encoding"],
];
const RANK = new Map(TIERS.map(([t], i) => [t, i]));

/** The daemon's order: tier by tier, most wasted space first in each (kept across pages). */
export function byWaste(groups: DuplicateGroup[]): DuplicateGroup[] {
  const rank = (g: DuplicateGroup) => RANK.get(g.tier ?? "exact") ?? TIERS.length;
  return [...groups].sort((a, b) => rank(a) - rank(b) || b.wasted_bytes - a.wasted_bytes || (a.id ?? a.file_hash).localeCompare(b.id ?? b.file_hash));
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

function Group({ group, admin }: { group: DuplicateGroup; admin: boolean }) {
  const [keep, setKeep] = useState<number>(group.keep ?? group.items[0]?.id);
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState<{ text: string; error: boolean } | null>(null);
  const shown = group.items.find((c) => c.thumbnail);
  const url = shown ? thumbnailUrl({ id: shown.id, thumbnail: shown.thumbnail ?? null }) : null;
  const name = group.items[0]?.path.split("/").pop() ?? group.file_hash.slice(0, 12);
  const tier = TIERS.find(([t]) => t === (group.tier ?? "exact"));
  const suggested = group.items.find((c) => c.id === group.keep);
  const kept = group.items.find((c) => c.id === keep);
  const merge = async () => {
    if (!group.id) return;
    setBusy(true);
    try {
      const r = await api<MergeReply>("/duplicates/merge", { method: "POST", body: { group: group.id, keep } });
      const what = `${plural(r.tags, "tag")} and ${plural(r.collections, "collection")}`;
      setSaid({ text: `Merged into ${kept?.path ?? `item ${r.kept}`}: ${what} moved from ${plural(r.others.length, "other copy", "other copies")}`, error: false });
    } catch (err) {
      setSaid({ text: err instanceof Error ? err.message : String(err), error: true });
    } finally {
      setBusy(false);
    }
  };
  return (
    <li className="dup" data-hash={group.file_hash} data-group={group.id} data-tier={group.tier ?? "exact"} data-wasted={group.wasted_bytes} data-keep={group.keep}>
      <div className="dup-thumb">{url ? <img src={url} alt={name} loading="lazy" decoding="async" /> : <span className="nothumb">{name}</span>}</div>
      <div className="dup-body">
        <p className="dup-head">
          {tier && <span className={`pill tier ${tier[0]}`} title={tier[2]}>{tier[1]}</span>}{" "}
          <strong className="wasted">{formatBytes(group.wasted_bytes)} wasted</strong>: {group.copies} copies of {formatBytes(group.size)}
          <span className="hash" title={group.file_hash}> sha256 {group.file_hash.slice(0, 12)}…</span>
        </p>
        {suggested && (
          <p className="keep-why">
            Keep <a href={`/item/${suggested.id}`} onClick={onLink}>{suggested.path.split("/").pop()}</a>: {group.keep_reason}
          </p>
        )}
        <fieldset className="copies-list">
          <legend className="sr-only">Copies{admin ? ": the one to keep" : ""}</legend>
          <ul className="plain">
            {group.items.map((c) => (
              <li key={c.id} data-id={c.id} className={c.id === group.keep ? "suggested" : undefined}>
                {admin && group.id && (
                  <input type="radio" name={`keep-${group.id}`} value={c.id} checked={c.id === keep} onChange={() => setKeep(c.id)} aria-label={`Keep ${c.path}`} />
                )}
                <a href={`/item/${c.id}`} onClick={onLink}>{c.path}</a>
                {c.id === group.keep && <span className="pill ok keep-mark">suggested</span>}
              </li>
            ))}
          </ul>
        </fieldset>
        {admin && group.id && (
          <div className="actions">
            <button type="button" className="merge" onClick={merge} disabled={busy} aria-busy={busy} aria-label={`Merge the other copies' tags and collections into ${kept?.path ?? "the kept copy"}`}>
              {busy ? "Merging…" : "Merge"}
            </button>
            <span className="muted">moves the other copies' tags and collections to the kept one; no file is deleted</span>
          </div>
        )}
        {said && <p className={said.error ? "error merged" : "merged"} role="status">{said.text}</p>}
      </div>
    </li>
  );
}

/** Groups of copies in tiers (exact, same content, near), most wasted bytes first in each,
 * with the copy to keep and why; an admin merges a group's tags and collections into it. */
export function Duplicates({ admin = false }: { admin?: boolean }) {
  const { params } = useLocation();
  const tier = params.get("tier") ?? "";
  const [groups, setGroups] = useState<DuplicateGroup[]>([]);
  const [totals, setTotals] = useState<{ groups: number; wasted: number; tiers: Record<string, number> } | null>(null);
  const [all, setAll] = useState<Record<string, number> | null>(null); // every tier's count
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const load = async (offset: number) => {
    setBusy(true);
    try {
      const reply = await api<DuplicatesReply>(`/duplicates${query({ limit: PAGE, offset, tier: tier || undefined })}`);
      setTotals({ groups: reply.groups, wasted: reply.wasted_bytes, tiers: reply.tiers ?? {} });
      if (!tier && reply.tiers) setAll(reply.tiers);
      setGroups((old) => byWaste(offset ? old.concat(reply.duplicates) : reply.duplicates));
      setError("");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    setGroups([]);
    load(0);
  }, [tier]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    if (tier && all === null) api<DuplicatesReply>("/duplicates?limit=1").then((r) => setAll(r.tiers ?? null), () => undefined);
  }, [tier, all]);
  if (error) return <p className="error" role="alert">{error}</p>;
  if (!totals) return <p className="loading">Loading…</p>;
  const pick = (t: string) => navigate(`/duplicates${query({ tier: t || undefined })}`);
  const count = (t: string) => (all ? ` (${(t ? all[t] ?? 0 : Object.values(all).reduce((a, b) => a + b, 0)).toLocaleString()})` : "");
  return (
    <div className="duplicates">
      <h1 className="crumbs">Duplicates</h1>
      <nav className="tiers" aria-label="Tiers">
        {[["", "All", "every tier"], ...TIERS].map(([t, label, meaning]) => (
          <button key={t} type="button" data-tier={t || "all"} aria-pressed={tier === t} title={meaning} onClick={() => pick(t)}>
            {label}{count(t)}
          </button>
        ))}
      </nav>
      <p className="summary" data-groups={totals.groups} data-wasted={totals.wasted}>
        {totals.groups === 0
          ? tier ? "No group in this tier." : "No duplicates: every file's content is in the library once."
          : `${plural(totals.groups, "group")} of copies, ${formatBytes(totals.wasted)} wasted`}
        {tier && TIERS.find(([t]) => t === tier) ? ` · ${TIERS.find(([t]) => t === tier)![2]}` : ""}
      </p>
      <ol className="dups">
        {groups.map((g) => (
          <Group key={g.id ?? g.file_hash} group={g} admin={admin} />
        ))}
      </ol>
      {groups.length < totals.groups && (
        <button onClick={() => load(groups.length)} disabled={busy}>Show more</button>
      )}
    </div>
  );
}
