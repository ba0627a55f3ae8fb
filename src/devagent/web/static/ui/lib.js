// The app's view library in one place: Preact components written with htm templates
// (no JSX, so no build step), plus the page's configuration from the server.
import { h, render } from "../vendor/preact/preact.mjs";
import {
  useCallback, useEffect, useMemo, useRef, useState,
} from "../vendor/preact/hooks.mjs";
import htm from "../vendor/htm/htm.mjs";

export const html = htm.bind(h);
export { render, useCallback, useEffect, useMemo, useRef, useState };

/** What the server told the page: prefix, endpoint, UI base, static base, version. */
export const config = JSON.parse(document.getElementById("phydev-config").textContent);

/**
 * A big library loaded by the page that needs it (not with the app): `[module's default
 * export or null while loading, error]`. `url` is relative to this file.
 */
const lazyModules = new Map();
export function useLazyModule(url) {
  // (an initialiser function: the module itself may be a function, which useState would call)
  const [lib, setLib] = useState(() => lazyModules.get(url) || null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (lib) return;
    import(url).then(
      (mod) => { lazyModules.set(url, mod.default); setLib(() => mod.default); },
      (err) => setError(err),
    );
  }, [url]);
  return [lib, error];
}
