// GraphQL over fetch: the bearer token (asked once, kept in sessionStorage for the tab), and
// errors carrying the server's own text (never a bare status code).
import { config, useEffect, useRef, useState } from "./lib.js";
import { TOKEN_KEY, authHeaders, requestBody, takeEarly } from "./queries.js";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  tokenListeners.forEach((fn) => fn());
}

// Components that must re-ask after a token change (or show the token form on a 401).
const tokenListeners = new Set();
export function onTokenChange(fn) {
  tokenListeners.add(fn);
  return () => tokenListeners.delete(fn);
}
let needTokenHandler = () => {};
export function setNeedTokenHandler(fn) {
  needTokenHandler = fn;
}

/** An error to show as is: the server's messages, with the HTTP status when there was one. */
export class ApiError extends Error {
  constructor(messages, status) {
    super(messages.join("\n"));
    this.messages = messages;
    this.status = status;
  }
}

/** Run one GraphQL operation; resolves to `data`, rejects with an ApiError. */
export async function gql(query, variables = {}) {
  const body = requestBody(query, variables);
  let response;
  try {
    response = await (takeEarly(body) || fetch(config.endpoint, {
      method: "POST", headers: authHeaders(), body, credentials: "same-origin",
    }));
  } catch (err) {
    throw new ApiError([`cannot reach the agent at ${config.endpoint}: ${err.message}`], 0);
  }
  const text = await response.text();
  let answer = null;
  try {
    answer = JSON.parse(text);
  } catch (_) {
    const snippet = text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim().slice(0, 300);
    throw new ApiError([`HTTP ${response.status} ${response.statusText}: ${snippet}`],
      response.status);
  }
  if (response.status === 401) needTokenHandler();
  const messages = (answer.errors || []).map((e) => e.message);
  if (!response.ok || !answer.data) {
    const what = messages.length ? messages : [JSON.stringify(answer)];
    throw new ApiError(what.map((m) => `HTTP ${response.status}: ${m}`), response.status);
  }
  if (messages.length) throw new ApiError(messages, response.status);
  return answer.data;
}

/**
 * Load `query` now, again whenever `deps` or the token change, and every `interval` ms when
 * one is given (a null `query` loads nothing). Keeps the last data while reloading; `error`
 * is the latest failure (null after a success).
 */
export function useQuery(query, variables, deps, interval = 0) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [tokenEpoch, setTokenEpoch] = useState(0);
  const seq = useRef(0);
  const varsRef = useRef(variables);
  varsRef.current = variables;
  useEffect(() => onTokenChange(() => setTokenEpoch((n) => n + 1)), []);
  const load = () => {
    const mine = ++seq.current;
    if (!query) return Promise.resolve();
    return gql(query, varsRef.current).then(
      (data) => { if (mine === seq.current) setState({ data, error: null, loading: false }); },
      (error) => {
        if (mine === seq.current) setState((s) => ({ data: s.data, error, loading: false }));
      },
    );
  };
  useEffect(() => {
    setState((s) => ({ ...s, loading: true }));
    load();
    if (!interval) return undefined;
    let timer = 0;
    let stopped = false;
    const tick = () => {
      // One request at a time; none while the tab is hidden.
      const next = () => { if (!stopped) timer = setTimeout(tick, interval); };
      if (document.hidden) next(); else load().finally(next);
    };
    timer = setTimeout(tick, interval);
    return () => { stopped = true; clearTimeout(timer); seq.current++; };
  }, [...deps, tokenEpoch]);
  return { ...state, reload: load };
}
