import { ago, api } from "./api";

// The notify room's health: GET /targets and /plugins (mediaforged/protocol/targets.py).

interface TargetHealth {
  name: string;
  kind: string;
  state: string; // ok, starting, retrying, held, failed
  last_success: number | null;
  last_error: string;
  last_error_at: number | null;
  last_skipped: string;
  confirmation: string;
  requests: Record<string, number>;
  cursor: number;
  head: number;
  lag: number;
  pending_folders: number;
}

interface PluginHealth {
  name: string;
  hooks: string[];
  state: string; // ok, starting, restarting, failed to load
  calls: number;
  errors: number;
  timeouts: number;
  restarts: number;
  last_error: string;
  cursor: number;
  lag: number;
}

export interface Notify {
  targets: TargetHealth[];
  plugins: PluginHealth[];
}

// An older daemon has neither endpoint: nothing to show, as with none configured.
export const loadNotify = async (): Promise<Notify> => {
  const [t, p] = await Promise.all([
    api<{ targets: TargetHealth[] }>("/targets").catch(() => ({ targets: [] })),
    api<{ plugins: PluginHealth[] }>("/plugins").catch(() => ({ plugins: [] })),
  ]);
  return { targets: t.targets, plugins: p.plugins };
};

const stateClass = (state: string) => state.split(" ")[0];

/** The media servers told of changes (`mediaforgectl targets`), and the plugins
 * (`mediaforgectl plugins`): drawn only where some are configured. */
export function NotifyPanels({ notify }: { notify: Notify }) {
  const { targets, plugins } = notify;
  return (
    <>
      {targets.length > 0 && (
        <section className="panel" aria-labelledby="h-targets">
          <h2 id="h-targets">Notify targets</h2>
          <ul className="plain-list">
            {targets.map((t) => (
              <li key={t.name} className="target" data-name={t.name} data-state={t.state} data-lag={t.lag}>
                <div className="row">
                  <strong>{t.name}</strong> <span className="muted">{t.kind}</span>
                  <span className={`pill ${stateClass(t.state)}`}>{t.state}</span>
                </div>
                <div className="muted">
                  last success {ago(t.last_success)} · {t.lag.toLocaleString()} events behind
                  {t.pending_folders ? ` · ${t.pending_folders} folders waiting` : ""} · requests{" "}
                  {Object.entries(t.requests).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}
                </div>
                {t.confirmation && <div className="muted">server: {t.confirmation}</div>}
                {t.last_error && <ul className="why"><li>{t.last_error_at ? `${ago(t.last_error_at)}: ` : ""}{t.last_error}</li></ul>}
                {t.last_skipped && <div className="muted">not sent: {t.last_skipped}</div>}
              </li>
            ))}
          </ul>
        </section>
      )}
      {plugins.length > 0 && (
        <section className="panel" aria-labelledby="h-plugins">
          <h2 id="h-plugins">Plugins</h2>
          <ul className="plain-list">
            {plugins.map((p) => (
              <li key={p.name} className="plugin" data-name={p.name} data-state={p.state}>
                <div className="row">
                  <strong>{p.name}</strong> <span className="muted">{p.hooks.join(", ")}</span>
                  <span className={`pill ${stateClass(p.state)}`}>{p.state}</span>
                </div>
                <div className="muted">
                  {p.calls.toLocaleString()} calls · {p.errors} errors · {p.timeouts} timeouts · {p.restarts} restarts · {p.lag.toLocaleString()} events behind
                </div>
                {p.last_error && <ul className="why"><li>{p.last_error}</li></ul>}
              </li>
            ))}
          </ul>
        </section>
      )}
    </>
  );
}
