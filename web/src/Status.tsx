import { useCallback, useEffect, useRef, useState } from "react";
import { ago, api, formatBytes, formatDuration } from "./api";
import { loadNotify, NotifyPanels } from "./Notify";
import { streamCommand, useLive, type JobProgress } from "./live";

// The daemon at work: GET /status every second while the page is in view (and the jobs'
// progress from the events socket in between), the failed files from GET /failed, the notify
// targets and plugins (Notify.tsx) where any are configured. The
// buttons that change things are drawn for an admin token only (the API refuses the others).

interface RootStatus {
  path: string;
  online: boolean;
  offline_reason: string | null;
  watch: string;
  watch_mode: string;
  watch_mode_reason: string;
  watch_fallback: string | null;
  watch_folders: number;
  unwatched_folders: number;
  overflows: number;
  paused: boolean;
  held: string | null;
  items: number;
  bytes: number;
  by_status: Record<string, number>;
  last_reconcile: { at: number | null; duration_s: number | null; files: number | null };
}

interface RecentError {
  at: number;
  path: string;
  code: string;
  message: string;
}

interface StatusReply {
  state: string;
  version: string;
  uptime_s: number;
  catalog: { problem: string | null; bytes: number | null };
  roots: RootStatus[];
  pending: Record<string, number>;
  metadata: { idle: boolean; extracted: number; failed: number; failed_items: number };
  thumbnails: { enabled: boolean; idle: boolean; made: number; failed: number; failed_items: number };
  jobs: JobProgress[];
  errors: { failed_items: number; by_stage: Record<string, number>; recent: RecentError[] };
}

interface FailedItem {
  id: number;
  path: string;
  stage: string;
  error_code: string | null;
  error: string | null;
}

interface FailedReply {
  total: number;
  by_stage: Record<string, number>;
  items: FailedItem[];
}

const POLL_MS = 1000;
const NOTIFY_EVERY_MS = 5000;
const FAILED_EVERY_MS = 5000;
const FAILED_SHOWN = 50;
const JOBS_SHOWN = 10;
const NOTICES = 3; // the answers to the last buttons pressed
const PENDING: [string, string][] = [
  ["settling", "Settling"],
  ["index_queue", "To index"],
  ["indexing", "Indexing"],
  ["write_queue", "To write"],
  ["reconciles_queued", "Scans queued"],
  ["metadata", "Metadata"],
  ["thumbnails", "Thumbnails"],
];

/** `load` every `every` ms while the page is visible (never two at once); `now` reloads. */
function usePoll<T>(load: () => Promise<T>, every: number): { data: T | null; error: string; now: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState("");
  const timer = useRef<ReturnType<typeof setTimeout>>();
  const busy = useRef(false);
  const again = useRef(false);
  const tick = useCallback(async () => {
    clearTimeout(timer.current);
    if (busy.current) {
      again.current = true;
      return;
    }
    busy.current = true;
    try {
      setData(await load());
      setError("");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      busy.current = false;
    }
    if (again.current) {
      again.current = false;
      tick();
    } else if (document.visibilityState === "visible") timer.current = setTimeout(tick, every);
  }, [load, every]);
  useEffect(() => {
    tick();
    const wake = () => {
      if (document.visibilityState === "visible") tick();
    };
    document.addEventListener("visibilitychange", wake);
    return () => {
      document.removeEventListener("visibilitychange", wake);
      clearTimeout(timer.current);
    };
  }, [tick]);
  return { data, error, now: tick };
}

/** Why a root is not simply well: what `mediaforgectl status` says under its table. */
export function health(root: RootStatus): { level: "ok" | "degraded" | "offline" | "paused"; why: string[] } {
  const why: string[] = [];
  if (!root.online) why.push(`offline: ${root.offline_reason ?? "not reachable"}`);
  if (root.watch.startsWith("failed")) why.push(`watch ${root.watch}`);
  if (root.watch_fallback) why.push(`polling: ${root.watch_fallback}`);
  if (root.unwatched_folders > 0) why.push(`${root.unwatched_folders} folders not watched`);
  if (root.held) why.push(`held back: ${root.held}`);
  if (root.overflows > 0) why.push(`event queue overflowed ${root.overflows}× (each caught up by a quick check)`);
  const level = !root.online ? "offline" : why.length ? "degraded" : root.paused ? "paused" : "ok";
  return { level, why };
}

function Job({ job, paused, admin, act }: { job: JobProgress; paused: boolean; admin: boolean; act: Act }) {
  const left = job.queued - job.done;
  const eta = job.eta_s ?? (job.walk_finished && !job.complete && job.rate_per_s ? left / job.rate_per_s : null);
  const where = job.path === job.root ? job.root : job.path;
  let state: string;
  if (job.cancelled) state = job.walked ? `cancelled after ${job.walked} files looked at, ${job.done} indexed` : "cancelled before it began";
  else if (job.complete) state = `done: ${job.walked} files looked at, ${job.done} indexed${job.failed ? `, ${job.failed} failed` : ""}${job.gone ? `, ${job.gone} gone` : ""} in ${formatDuration(job.elapsed_s)}`;
  else if (paused && job.walked === 0) state = "waiting: paused";
  else if (!job.walk_finished) state = `walking: ${job.walked} files seen, ${job.done} of ${job.queued} done`;
  else state = `${job.done} of ${job.queued} files`;
  const label = `${job.kind} job ${job.job}`;
  return (
    <li className="job" data-job={job.job} data-kind={job.kind} data-complete={String(job.complete)} data-walked={job.walked} data-done={job.done} data-queued={job.queued}>
      <div className="row">
        <strong>{job.kind}</strong> <span className="path">{where}</span>
        {admin && !job.complete && (
          <button type="button" onClick={() => act(`cancel ${job.job}`, () => api("/cancel", { method: "POST", body: { job: job.job } }).then(() => `Cancelled job ${job.job}`))} aria-label={`Cancel ${label}`}>
            Cancel
          </button>
        )}
      </div>
      <progress aria-label={`${label} progress`} max={job.complete || job.walk_finished ? Math.max(job.queued, 1) : undefined} value={job.complete || job.walk_finished ? (job.complete && !job.cancelled ? Math.max(job.queued, 1) : job.done) : undefined} />
      <div className="muted">
        {state}
        {!job.complete && job.rate_per_s ? ` · ${job.rate_per_s.toFixed(1)} files/s` : ""}
        {!job.complete && eta !== null ? ` · about ${formatDuration(eta)} left` : ""}
      </div>
    </li>
  );
}

type Act = (name: string, work: () => Promise<string>) => void;

export function Status({ admin }: { admin: boolean }) {
  const loadStatus = useCallback(() => api<StatusReply>("/status"), []);
  const loadFailed = useCallback(() => api<FailedReply>(`/failed?limit=${FAILED_SHOWN}`), []);
  const status = usePoll(loadStatus, POLL_MS);
  const failed = usePoll(loadFailed, FAILED_EVERY_MS);
  const notify = usePoll(loadNotify, NOTIFY_EVERY_MS);
  const [live, setLive] = useState<Map<number, JobProgress>>(new Map());
  const [busy, setBusy] = useState<Set<string>>(new Set());
  const [notices, setNotices] = useState<{ key: number; text: string; error: boolean }[]>([]);
  const said = useRef(0);
  const say = (text: string, error: boolean) => setNotices((old) => [{ key: ++said.current, text, error }, ...old].slice(0, NOTICES));

  const merge = useCallback((jobs: JobProgress[]) => setLive((old) => new Map([...old, ...jobs.map((j): [number, JobProgress] => [j.job, j])])), []);
  useEffect(() => setLive(new Map()), [status.data]); // a fresh status has every job
  const connected = useLive({
    onJobs: merge,
    onEvent: (event) => {
      if (event.kind === "failed" || event.kind === "changed" || event.kind === "purged") failed.now();
    },
    onResync: () => {
      status.now();
      failed.now();
    },
  });

  const act: Act = (name, work) => {
    setBusy((b) => new Set(b).add(name));
    work()
      .then((text) => say(text, false), (err) => say(err instanceof Error ? err.message : String(err), true))
      .finally(() => {
        setBusy((b) => {
          const next = new Set(b);
          next.delete(name);
          return next;
        });
        status.now();
        failed.now();
      });
  };
  const button = (name: string, text: string, label: string, work: () => Promise<string>) => (
    <button type="button" disabled={busy.has(name)} aria-busy={busy.has(name)} aria-label={label} onClick={() => act(name, work)}>
      {busy.has(name) ? `${text}…` : text}
    </button>
  );
  const rescan = (root?: string) =>
    streamCommand<{ jobs: JobProgress[]; errors: string[] }>("/rescan", root ? { path: root } : {}, (line) => {
      const jobs = (line.progress as { jobs?: JobProgress[] } | undefined)?.jobs;
      if (jobs) merge(jobs);
    }).then((r) => `Rescan done: ${r.jobs.reduce((n, j) => n + j.walked, 0)} files looked at, ${r.jobs.reduce((n, j) => n + j.done, 0)} indexed${r.errors.length ? `; ${r.errors.join("; ")}` : ""}`);
  const retry = (body: Record<string, string>) =>
    streamCommand<{ retried: number; still_failed: number; fixed: number }>("/retry", body).then((r) => `Retried ${r.retried}: ${r.fixed} fixed, ${r.still_failed} still failing`);

  const s = status.data;
  if (!s) return status.error ? <p className="error" role="alert">{status.error}</p> : <p className="loading">Loading…</p>;
  const jobs = s.jobs.map((j) => ({ ...j, ...live.get(j.job) }));
  for (const j of live.values()) if (!jobs.some((x) => x.job === j.job)) jobs.push(j);
  jobs.sort((a, b) => Number(a.complete) - Number(b.complete) || (a.complete ? b.job - a.job : a.job - b.job));
  const running = jobs.filter((j) => !j.complete);
  const pausedRoots = new Set(s.roots.filter((r) => r.paused).map((r) => r.path));
  const f = failed.data;
  return (
    <div className="status" data-state={s.state}>
      <section className="panel head" aria-label="Daemon">
        <p>
          <strong>mediaforged {s.version}</strong> <span className={`pill ${s.state}`}>{s.state}</span>{" "}
          <span className="muted">up {formatDuration(s.uptime_s)}{s.catalog.bytes !== null ? ` · catalog ${formatBytes(s.catalog.bytes)}` : ""}</span>{" "}
          <span className={connected ? "pill ok" : "pill degraded"} title="the events socket">{connected ? "live" : "reconnecting…"}</span>
        </p>
        {admin && (
          <div className="actions">
            {s.state === "paused"
              ? button("resume", "Resume all", "Resume indexing of every root", () => api("/resume", { method: "POST", body: {} }).then(() => "Resumed"))
              : button("pause", "Pause all", "Pause indexing of every root", () => api("/pause", { method: "POST", body: {} }).then(() => "Paused: changes are still noticed, and indexed on resume"))}
            {button("rescan", "Rescan all", "Rescan every root", () => rescan())}
            {running.length > 1 && button("cancel", "Cancel all jobs", "Cancel every running job", () => api("/cancel", { method: "POST", body: {} }).then(() => "Cancelled every job"))}
          </div>
        )}
        {s.catalog.problem && <p className="error" role="alert">Catalog: {s.catalog.problem}</p>}
        {status.error && <p className="error" role="alert">{status.error}</p>}
        <ul className="notices" role="status" aria-live="polite">
          {notices.map((n) => <li key={n.key} className={n.error ? "error notice" : "notice"}>{n.text}</li>)}
        </ul>
      </section>

      <section className="panel" aria-labelledby="h-roots">
        <h2 id="h-roots">Roots</h2>
        <ul className="plain-list">
          {s.roots.map((r) => {
            const h = health(r);
            return (
              <li key={r.path} className="root" data-path={r.path} data-health={h.level}>
                <div className="row">
                  <span className="path">{r.path}</span>
                  <span className={`pill ${h.level}`}>{h.level}</span>
                </div>
                <div className="muted">
                  watch: {r.watch.split(":")[0]} ({r.watch_mode}{r.watch_mode_reason ? `: ${r.watch_mode_reason}` : ""}) · {r.items.toLocaleString()} items · {formatBytes(r.bytes)} · scanned {ago(r.last_reconcile.at)}
                </div>
                {h.why.length > 0 && <ul className="why">{h.why.map((w) => <li key={w}>{w}</li>)}</ul>}
                {admin && (
                  <div className="actions">
                    {r.paused
                      ? button(`resume ${r.path}`, "Resume", `Resume ${r.path}`, () => api("/resume", { method: "POST", body: { root: r.path } }).then(() => `Resumed ${r.path}`))
                      : button(`pause ${r.path}`, "Pause", `Pause ${r.path}`, () => api("/pause", { method: "POST", body: { root: r.path } }).then(() => `Paused ${r.path}`))}
                    {button(`rescan ${r.path}`, "Rescan", `Rescan ${r.path}`, () => rescan(r.path))}
                  </div>
                )}
              </li>
            );
          })}
        </ul>
      </section>

      <section className="panel" aria-labelledby="h-jobs">
        <h2 id="h-jobs">Jobs</h2>
        {jobs.length === 0 ? <p className="none">No scans since start.</p> : (
          <ul className="plain-list">
            {jobs.slice(0, JOBS_SHOWN).map((j) => <Job key={j.job} job={j} paused={pausedRoots.has(j.root) || s.state === "paused"} admin={admin} act={act} />)}
          </ul>
        )}
      </section>

      <section className="panel" aria-labelledby="h-pending">
        <h2 id="h-pending">Pending</h2>
        <dl className="figures">
          {PENDING.map(([key, name]) => (
            <div key={key} data-pending={key}><dt>{name}</dt><dd>{(s.pending[key] ?? 0).toLocaleString()}</dd></div>
          ))}
        </dl>
        <p className="muted">
          Metadata {s.metadata.idle ? "idle" : "working"}: {s.metadata.extracted.toLocaleString()} read, {s.metadata.failed} failed.{" "}
          Thumbnails {s.thumbnails.enabled ? `${s.thumbnails.idle ? "idle" : "working"}: ${s.thumbnails.made.toLocaleString()} made, ${s.thumbnails.failed} failed` : "off"}.
        </p>
      </section>

      <section className="panel" aria-labelledby="h-errors">
        <h2 id="h-errors">Recent errors</h2>
        {s.errors.recent.length === 0 ? <p className="none">None since start.</p> : (
          <ul className="plain-list">
            {[...s.errors.recent].reverse().map((e, n) => (
              <li key={`${e.at}-${n}`} className="recent-error">
                <span className="path">{e.path}</span>
                <div className="muted">{ago(e.at)} · <code>{e.code}</code> {e.message}</div>
              </li>
            ))}
          </ul>
        )}
      </section>

      {notify.data && <NotifyPanels notify={notify.data} />}

      <section className="panel" aria-labelledby="h-failed">
        <h2 id="h-failed">Failed files{f ? ` (${f.total})` : ""}</h2>
        {failed.error && <p className="error" role="alert">{failed.error}</p>}
        {admin && f && f.total > 0 && <div className="actions">{button("retry", "Retry all", "Retry every failed file", () => retry({}))}</div>}
        {f && f.total === 0 && <p className="none">No file is failing.</p>}
        {f && f.total > 0 && (
          <ul className="plain-list">
            {f.items.map((item) => (
              <li key={`${item.id}-${item.stage}`} className="failed-file" data-path={item.path} data-stage={item.stage}>
                <div className="row">
                  <span className="path">{item.path}</span>
                  {admin && button(`retry ${item.id} ${item.stage}`, "Retry", `Retry ${item.stage} of ${item.path}`, () => retry({ path: item.path, stage: item.stage }))}
                </div>
                <div className="muted">{item.stage} · <code>{item.error_code}</code> {item.error}</div>
              </li>
            ))}
          </ul>
        )}
        {f && f.total > f.items.length && <p className="muted">and {f.total - f.items.length} more: <code>mediaforgectl failed</code></p>}
      </section>
    </div>
  );
}
