import { useEffect, useState } from "react";
import { api, formatBytes } from "./api";
import { onLink } from "./router";

interface Root {
  path: string;
  state: string;
  offline_reason: string | null;
  items: number;
  bytes: number;
  by_status: Record<string, number>;
}

/** The roots with their counts; each opens the library on that folder. */
export function Folders() {
  const [roots, setRoots] = useState<Root[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api<{ roots: Root[] }>("/roots").then((r) => setRoots(r.roots), (e) => setError(e.message));
  }, []);
  if (error) return <p className="error" role="alert">{error}</p>;
  if (!roots) return <p className="loading">Loading…</p>;
  return (
    <table className="folders">
      <thead>
        <tr><th>Root</th><th>State</th><th>Items</th><th>Size</th><th>By status</th></tr>
      </thead>
      <tbody>
        {roots.map((r) => (
          <tr key={r.path}>
            <td><a href={`/?root=${encodeURIComponent(r.path)}`} onClick={onLink}>{r.path}</a></td>
            <td>{r.state}{r.offline_reason ? `: ${r.offline_reason}` : ""}</td>
            <td>{r.items.toLocaleString()}</td>
            <td>{formatBytes(r.bytes)}</td>
            <td>{Object.entries(r.by_status).map(([k, v]) => `${k} ${v}`).join(", ")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
