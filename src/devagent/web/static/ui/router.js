// Routes under the UI's base (`<path-prefix>ui/`): the History API, so deep links, reload
// and the browser's back/forward all work. The server answers every /ui/... path with the
// same page.
import { config, useEffect, useState } from "./lib.js";

const listeners = new Set();

/** The path below the UI's base, split: "/x/ui/maps/3" -> ["maps", "3"]. */
export function currentRoute() {
  const path = location.pathname;
  const base = config.ui;
  const rest = path.startsWith(base) ? path.slice(base.length) : "";
  return { parts: rest.split("/").filter(Boolean).map(decodeURIComponent),
    query: new URLSearchParams(location.search) };
}

export function href(path) {
  return config.ui + path;
}

export function navigate(path, { replace = false } = {}) {
  const url = path.startsWith("/") ? path : href(path);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  listeners.forEach((fn) => fn());
}

/** Change the query string of the current route (filters, sort, paging) without a new
 * history entry for each keystroke. */
export function setQuery(params, { replace = true } = {}) {
  const query = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === "") query.delete(k);
    else query.set(k, String(v));
  }
  const search = query.toString();
  navigate(location.pathname + (search ? "?" + search : ""), { replace });
}

export function useRoute() {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => { listeners.delete(update); window.removeEventListener("popstate", update); };
  }, []);
  return route;
}

/** Plain left clicks on links inside the app stay in the app (no page load). */
export function interceptLinks(root) {
  root.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const a = event.target.closest("a[href]");
    if (!a || a.target || a.hasAttribute("download")) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(config.ui)) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
    window.scrollTo(0, 0);
  });
}
