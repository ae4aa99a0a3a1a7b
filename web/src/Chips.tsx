import { useState } from "react";
import { api, ApiError } from "./api";
import { onLink } from "./router";

interface Props {
  id: number;
  names: string[];
  canEdit: boolean;
  onChange: () => void;
  kind: "tag" | "collection";
  choices?: string[]; // offered while typing (existing collections)
}

const enc = encodeURIComponent;

/** The item's tags or collections as chips, editable in place by an admin token: × removes
 * one, the form adds one (a collection that does not exist yet is created first). */
export function Chips({ id, names, canEdit, onChange, kind, choices = [] }: Props) {
  const [name, setName] = useState("");
  const [error, setError] = useState("");
  const plural = kind === "tag" ? "tags" : "collections";
  const add = async (value: string) => {
    if (kind === "tag") return api("/tags/add", { method: "POST", body: { tag: value, ids: [id] } });
    try {
      return await api(`/collections/${enc(value)}/add`, { method: "POST", body: { ids: [id] } });
    } catch (err) {
      if (!(err instanceof ApiError && err.code === "not_found")) throw err;
      await api("/collections", { method: "POST", body: { name: value } });
      return api(`/collections/${enc(value)}/add`, { method: "POST", body: { ids: [id] } });
    }
  };
  const remove = (value: string) =>
    kind === "tag"
      ? api("/tags/remove", { method: "POST", body: { tag: value, ids: [id] } })
      : api(`/collections/${enc(value)}/remove`, { method: "POST", body: { ids: [id] } });
  const run = async (change: () => Promise<unknown>) => {
    try {
      await change();
      setError("");
      onChange();
      return true;
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      return false;
    }
  };
  const list = `${kind}-choices`;
  return (
    <div className={`chips ${plural}`}>
      <ul aria-label={kind === "tag" ? "Tags" : "Collections"}>
        {names.map((t) => (
          <li key={t} className="chip">
            <a href={`/?${kind}=${enc(t)}`} onClick={onLink}>{t}</a>
            {canEdit && <button aria-label={`Remove ${kind} ${t}`} onClick={() => run(() => remove(t))}>×</button>}
          </li>
        ))}
        {names.length === 0 && <li className="none">no {plural}</li>}
      </ul>
      {canEdit && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const value = name.trim();
            if (value) run(() => add(value)).then((ok) => ok && setName(""));
          }}
        >
          <input name={kind} placeholder={kind === "tag" ? "add a tag" : "add to a collection"} aria-label={`New ${kind}`} value={name} onChange={(e) => setName(e.target.value)} list={choices.length ? list : undefined} />
          {choices.length > 0 && (
            <datalist id={list}>
              {choices.filter((c) => !names.includes(c)).map((c) => <option key={c} value={c} />)}
            </datalist>
          )}
          <button type="submit">Add</button>
        </form>
      )}
      {error && <p className="error" role="alert">{error}</p>}
    </div>
  );
}
