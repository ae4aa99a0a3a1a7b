import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { api, type Session } from "./api";
import { onLink, useLocation } from "./router";
import { Library } from "./Library";
import { ItemView } from "./Item";
import { Folders } from "./Folders";
import { Status } from "./Status";
import { Duplicates } from "./Duplicates";
import "./style.css";

// A token in the fragment (the link `bash .ci/dev daemon` prints) is posted to /login once
// and then removed from the address bar and the history: it never reaches a server log.
async function start(): Promise<Session | null> {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    history.replaceState(null, "", location.pathname + location.search);
    try {
      return await api<Session>("/login", { method: "POST", body: { token: decodeURIComponent(match[1]) } });
    } catch {
      /* fall through to the form */
    }
  }
  try {
    return await api<Session>("/session");
  } catch {
    return null;
  }
}

function Login({ onDone }: { onDone: (s: Session) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      onDone(await api<Session>("/login", { method: "POST", body: { token: token.trim() } }));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form className="login" onSubmit={submit}>
      <h1>mediaforged</h1>
      <label>
        Token <input type="password" value={token} onChange={(e) => setToken(e.target.value)} autoFocus name="token" autoComplete="current-password" />
      </label>
      <button type="submit">Log in</button>
      {error && <p role="alert" className="error">{error}</p>}
      <p className="hint">The first admin token is in &lt;state_dir&gt;/admin.token; make others with <code>mediaforgectl token create NAME --scope read</code>.</p>
    </form>
  );
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const { path } = useLocation();
  useEffect(() => {
    start().then(setSession);
  }, []);
  const loggedIn = setSession;
  if (session === undefined) return <p className="loading">Loading…</p>;
  if (session === null) return <Login onDone={loggedIn} />;
  const item = /^\/item\/(\d+)$/.exec(path);
  const logout = async () => {
    await api("/logout", { method: "POST" }).catch(() => undefined);
    setSession(null);
  };
  return (
    <>
      <header className="top">
        <a href="/" onClick={onLink} className={path === "/" ? "here brand" : "brand"}>mediaforged</a>
        <nav>
          <a href="/" onClick={onLink} aria-current={path === "/" ? "page" : undefined}>Library</a>
          <a href="/folders" onClick={onLink} aria-current={path === "/folders" ? "page" : undefined}>Folders</a>
          <a href="/status" onClick={onLink} aria-current={path === "/status" ? "page" : undefined}>Status</a>
          <a href="/duplicates" onClick={onLink} aria-current={path === "/duplicates" ? "page" : undefined}>Duplicates</a>
        </nav>
        <span className="who">{session.name} ({session.scope}) <button onClick={logout}>Log out</button></span>
      </header>
      <main>
        {item ? (
          <ItemView id={Number(item[1])} canEdit={session.scope === "admin"} />
        ) : path === "/folders" ? (
          <Folders />
        ) : path === "/status" ? (
          <Status admin={session.scope === "admin"} />
        ) : path === "/duplicates" ? (
          <Duplicates admin={session.scope === "admin"} />
        ) : (
          <Library />
        )}
      </main>
    </>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
