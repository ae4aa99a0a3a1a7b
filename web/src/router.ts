// A router of a few lines: the path picks the view, the query string holds the view's state,
// so any view can be bookmarked; links go through navigate() (history.pushState).
import { useEffect, useState } from "react";

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new Event("mf:navigate"));
}

export function useLocation(): { path: string; params: URLSearchParams } {
  const read = () => ({ path: location.pathname, params: new URLSearchParams(location.search) });
  const [where, setWhere] = useState(read);
  useEffect(() => {
    const update = () => setWhere(read());
    window.addEventListener("popstate", update);
    window.addEventListener("mf:navigate", update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener("mf:navigate", update);
    };
  }, []);
  return where;
}

/** A plain left click on a link: handled here, without a page load. */
export function onLink(event: React.MouseEvent<HTMLAnchorElement>): void {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(event.currentTarget.getAttribute("href") ?? "/");
}
