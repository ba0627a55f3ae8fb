// The list queries of the two big pages, and their early start: ui/early.js (an async module
// with this file as its only import) sends the query of the page being opened while the rest
// of the app is still loading, and the app's first request for it takes that answer instead
// of asking again. No imports here: it must load in one round trip.

export const PROGRAMS_LIST = `query Programs {
  programs { id error name type tag runCount runTime eventsPerSecond cpuPercent avgRunTimeNs
             attachPoint agentOwn }
}`;

export const MAPS_LIST = `query Maps {
  maps { id error name type flagNames keySize valueSize maxEntries isPinned isPerCPU agentOwn }
}`;

// How full each map is costs the server a read of every map (within its budget) and of
// every map's fdinfo: asked apart, so the table shows before the numbers arrive.
export const MAPS_FILL = `query MapsFill { maps { id usedEntries fillRatio memlockBytes } }`;

export const TOKEN_KEY = "phydev.token";  // sessionStorage; shared with the GraphiQL page
const BY_ROUTE = { programs: PROGRAMS_LIST, maps: MAPS_LIST };
const started = new Map();  // request body -> Promise<Response>

export function requestBody(query, variables) {
  return JSON.stringify({ query, variables });
}

export function authHeaders() {
  const headers = { "Content-Type": "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  return headers;
}

/** Send the list query of the page being opened, if it is one of the big lists. */
export function startEarly() {
  const config = JSON.parse(document.getElementById("phydev-config").textContent);
  if (config.authRequired && !sessionStorage.getItem(TOKEN_KEY)) return;  // asks first
  const rest = location.pathname.startsWith(config.ui)
    ? location.pathname.slice(config.ui.length) : "";
  const query = BY_ROUTE[rest.replace(/\/$/, "")];
  if (!query) return;
  const body = requestBody(query, {});
  const answer = fetch(config.endpoint, { method: "POST", headers: authHeaders(), body,
    credentials: "same-origin" });
  answer.catch(() => {});  // the app reports failures when it takes the answer
  started.set(body, answer);
}

/** The early answer for this request, once (null when none was started). */
export function takeEarly(body) {
  const answer = started.get(body) || null;
  started.delete(body);
  return answer;
}
