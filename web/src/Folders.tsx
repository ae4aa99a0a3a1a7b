import { useEffect, useState } from "react";
import { api, formatBytes, query, type FoldersReply } from "./api";
import { onLink, useLocation } from "./router";

interface Root {
  path: string;
  state: string;
  offline_reason: string | null;
}

const folderLink = (path: string) => `/folders${query({ path })}`;
const itemsLink = (path: string) => `/${query({ folder: path })}`;

/** Root › folder › sub-folder: each part goes back up to it. */
function Breadcrumb({ root, path }: { root: string; path: string }) {
  const parts = path === root ? [] : path.slice(root.length + 1).split("/");
  const steps: [string, string][] = [["Roots", ""], [root, root]];
  parts.forEach((name, i) => steps.push([name, `${root}/${parts.slice(0, i + 1).join("/")}`]));
  return (
    <nav aria-label="Breadcrumb" className="crumbs">
      {steps.map(([name, to], i) =>
        i === steps.length - 1 ? (
          <span key={to} aria-current="page">{name}</span>
        ) : (
          <span key={to}>
            <a href={to ? folderLink(to) : "/folders"} onClick={onLink}>{name}</a>
            <span aria-hidden="true"> › </span>
          </span>
        ),
      )}
    </nav>
  );
}

/** The roots, then any folder below them: its sub-folders with their counts (present items
 * at every depth below), each opened by a click; "show items" opens the library on it. */
export function Folders() {
  const { params } = useLocation();
  const path = params.get("path") ?? "";
  const [reply, setReply] = useState<FoldersReply | null>(null);
  const [roots, setRoots] = useState<Record<string, Root>>({});
  const [error, setError] = useState("");
  useEffect(() => {
    let live = true;
    setReply(null);
    setError("");
    api<FoldersReply>(`/folders${query({ path: path || undefined })}`).then(
      (r) => live && setReply(r),
      (e) => live && setError(e.message),
    );
    if (!path) {
      api<{ roots: Root[] }>("/roots").then((r) => live && setRoots(Object.fromEntries(r.roots.map((x) => [x.path, x]))), () => undefined);
    }
    return () => {
      live = false;
    };
  }, [path]);
  if (error) return <p className="error" role="alert">{error}</p>;
  if (!reply) return <p className="loading">Loading…</p>;
  const atRoots = reply.path === null;
  return (
    <div className="folders-page">
      {atRoots ? <h1 className="crumbs">Roots</h1> : <Breadcrumb root={reply.root ?? ""} path={reply.path ?? ""} />}
      {!atRoots && (
        <p className="here" data-items={reply.items}>
          {reply.items.toLocaleString()} item{reply.items === 1 ? "" : "s"} ({formatBytes(reply.bytes)}) directly in this folder ·{" "}
          <a href={itemsLink(reply.path ?? "")} onClick={onLink}>show items</a>
        </p>
      )}
      <table className="folders">
        <thead>
          <tr>
            <th>{atRoots ? "Root" : "Folder"}</th>
            <th>Items</th>
            <th>Size</th>
            {atRoots && <th>State</th>}
            <th><span className="sr-only">Library</span></th>
          </tr>
        </thead>
        <tbody>
          {reply.folders.map((f) => {
            const root = roots[f.path];
            return (
              <tr key={f.path} data-path={f.path}>
                <td><a className="folder" href={folderLink(f.path)} onClick={onLink}>{f.name}</a></td>
                <td className="n" data-items={f.items}>{f.items.toLocaleString()}</td>
                <td className="n">{formatBytes(f.bytes)}</td>
                {atRoots && <td>{root ? `${root.state}${root.offline_reason ? `: ${root.offline_reason}` : ""}` : ""}</td>}
                <td><a href={itemsLink(f.path)} onClick={onLink} aria-label={`show items in ${f.name}`}>show items</a></td>
              </tr>
            );
          })}
          {reply.folders.length === 0 && (
            <tr><td colSpan={5} className="none">no sub-folders with catalogued files</td></tr>
          )}
        </tbody>
      </table>
      {reply.more && <p className="hint">Only the first {reply.folders.length} sub-folders are listed.</p>}
    </div>
  );
}
