import { useEffect, useState } from "react";
import { api, formatBytes, query, thumbnailUrl, type DuplicateGroup, type DuplicatesReply } from "./api";
import { onLink } from "./router";

const PAGE = 50; // groups per request

/** Most wasted space first (the daemon sorts them so; kept so here across pages too). */
export function byWaste(groups: DuplicateGroup[]): DuplicateGroup[] {
  return [...groups].sort((a, b) => b.wasted_bytes - a.wasted_bytes || a.file_hash.localeCompare(b.file_hash));
}

function Group({ group }: { group: DuplicateGroup }) {
  const shown = group.items.find((c) => c.thumbnail);
  const url = shown ? thumbnailUrl({ id: shown.id, thumbnail: shown.thumbnail ?? null }) : null;
  const name = group.items[0]?.path.split("/").pop() ?? group.file_hash.slice(0, 12);
  return (
    <li className="dup" data-hash={group.file_hash} data-wasted={group.wasted_bytes}>
      <div className="dup-thumb">{url ? <img src={url} alt={name} loading="lazy" /> : <span className="nothumb">{name}</span>}</div>
      <div>
        <p className="dup-head">
          <strong className="wasted">{formatBytes(group.wasted_bytes)} wasted</strong>: {group.copies} copies of {formatBytes(group.size)}
          <span className="hash" title={group.file_hash}> sha256 {group.file_hash.slice(0, 12)}…</span>
        </p>
        <ul className="plain">
          {group.items.map((c) => (
            <li key={c.id}>
              <a href={`/item/${c.id}`} onClick={onLink}>{c.path}</a>
            </li>
          ))}
        </ul>
      </div>
    </li>
  );
}

/** Groups of files with the same content, the most wasted bytes first, paged. */
export function Duplicates() {
  const [groups, setGroups] = useState<DuplicateGroup[]>([]);
  const [totals, setTotals] = useState<{ groups: number; wasted: number } | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const load = async (offset: number) => {
    setBusy(true);
    try {
      const reply = await api<DuplicatesReply>(`/duplicates${query({ limit: PAGE, offset })}`);
      setTotals({ groups: reply.groups, wasted: reply.wasted_bytes });
      setGroups((old) => byWaste(offset ? old.concat(reply.duplicates) : reply.duplicates));
      setError("");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    load(0);
  }, []); // eslint-disable-line react-hooks/exhaustive-deps
  if (error) return <p className="error" role="alert">{error}</p>;
  if (!totals) return <p className="loading">Loading…</p>;
  return (
    <div className="duplicates">
      <h1 className="crumbs">Duplicates</h1>
      <p className="summary" data-groups={totals.groups} data-wasted={totals.wasted}>
        {totals.groups === 0
          ? "No duplicates: every file's content is in the library once."
          : `${totals.groups.toLocaleString()} group${totals.groups === 1 ? "" : "s"} of identical files, ${formatBytes(totals.wasted)} wasted`}
      </p>
      <ol className="dups">
        {groups.map((g) => (
          <Group key={g.file_hash} group={g} />
        ))}
      </ol>
      {groups.length < totals.groups && (
        <button onClick={() => load(groups.length)} disabled={busy}>Show more</button>
      )}
    </div>
  );
}
