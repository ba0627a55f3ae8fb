// Small shared pieces: errors in place, loading, detail lists, fill bars, sparklines and the
// sort, filter and agent-object helpers of the long lists (their table: vtable.js).
import { html, useEffect, useState } from "./lib.js";
import { href, setQuery, useRoute } from "./router.js";
import { DASH } from "./format.js";

export { VirtualTable } from "./vtable.js";  // where the long lists' pages import it from

/** The server's error text, where the data would have been. */
export function ErrorBox({ error, what }) {
  if (!error) return null;
  const messages = error.messages || [String(error.message || error)];
  return html`<div class="error" role="alert">
    ${what ? html`<b>${what}: </b>` : null}
    ${messages.map((m) => html`<div class="error-text">${m}</div>`)}
  </div>`;
}

/** The first load of a page: its error, or "Loading…" until there is data. */
export function Loader({ state, what, children }) {
  if (state.data) {
    return html`${state.error ? html`<${ErrorBox} error=${state.error} what="refresh failed"/>`
      : null}${children(state.data)}`;
  }
  if (state.error) return html`<${ErrorBox} error=${state.error} what=${what}/>`;
  return html`<p class="loading">Loading ${what}…</p>`;
}

export function Link({ to, children, ...rest }) {
  return html`<a href=${href(to)} ...${rest}>${children}</a>`;
}

export function ObjLink({ kind, id, name }) {
  const path = { program: "programs", map: "maps", link: "links" }[kind];
  const to = kind === "link" ? `graph/link/${id}` : `${path}/${id}`;
  return html`<${Link} to=${to}>${name ? `${name} (${id})` : `#${id}`}</${Link}>`;
}

/** A two-column list of facts. Rows are [label, value, testid?]. */
export function Facts({ rows }) {
  return html`<dl class="facts">${rows.map(([label, value, id]) => html`
    <dt>${label}</dt><dd data-field=${id || label}>${value === null || value === undefined
      || value === "" ? DASH : value}</dd>`)}</dl>`;
}

export function FillBar({ ratio, used, max }) {
  if (ratio === null || ratio === undefined) return html`<span class="muted">${DASH}</span>`;
  const width = Math.min(100, ratio * 100);
  const cls = ratio >= 0.9 ? "fill high" : ratio >= 0.7 ? "fill mid" : "fill";
  return html`<span class="fillbar" title=${`${used} of ${max} entries`}>
    <span class=${cls} style=${`width: ${width}%`}></span>
    <span class="fill-text">${(ratio * 100).toFixed(1)}%</span></span>`;
}

/** A tiny line of the last values (SVG, no library): null values are gaps. */
export function Sparkline({ values, width = 90, height = 18 }) {
  const finite = values.filter((v) => v !== null && v !== undefined);
  if (finite.length < 2) return html`<svg class="spark" width=${width} height=${height}></svg>`;
  const max = Math.max(...finite) || 1;
  const step = width / Math.max(1, values.length - 1);
  let d = "";
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined) { pen = false; return; }
    const x = (i * step).toFixed(1);
    const y = (height - 1 - (v / max) * (height - 2)).toFixed(1);
    d += `${pen ? "L" : "M"}${x},${y}`;
    pen = true;
  });
  return html`<svg class="spark" width=${width} height=${height}
    viewBox=${`0 0 ${width} ${height}`}><path d=${d}/></svg>`;
}

/** Sort rows by a column's sort function; nulls last whatever the direction. */
export function sortRows(rows, column, desc) {
  if (!column || !column.sort) return rows;
  const dir = desc ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = column.sort(a);
    const y = column.sort(b);
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * dir;
  });
}

/** Rows whose text (every column's sort value) contains the filter, case-insensitively. */
export function filterRows(rows, columns, text) {
  const needle = (text || "").trim().toLowerCase();
  if (!needle) return rows;
  return rows.filter((row) => columns.some((c) => {
    const v = c.sort ? c.sort(row) : null;
    return v !== null && v !== undefined && String(v).toLowerCase().includes(needle);
  }));
}

/** The sort and filter of a big table, kept in the URL (?q=, ?sort=, ?desc=1). */
export function useTableState(defaultSort, defaultDesc) {
  const { query } = useRoute();
  const sortKey = query.get("sort") || defaultSort;
  const desc = query.has("sort") ? query.get("desc") === "1" : defaultDesc;
  const onSort = (key) => setQuery({ sort: key, desc: key === sortKey ? (desc ? 0 : 1) : 1 });
  return { filter: query.get("q") || "", sortKey, desc, onSort };
}

/** The filter box above a big table, how many rows pass it, and `children` (toggles). */
export function FilterBar({ what, placeholder, filter, shown, total, children }) {
  return html`<div class="toolbar">
    <input type="search" placeholder=${placeholder} aria-label=${`filter ${what}`}
      value=${filter} onInput=${(e) => setQuery({ q: e.currentTarget.value })}/>
    ${total === null ? null : html`<span class="muted" data-testid="count"
      >${shown} of ${total} ${what}</span>`}
    ${children}
  </div>`;
}

// The agent's own objects (the iterator programs a phydev server or `phydev top` loads to
// read the kernel, their links and map: `agentOwn` in GraphQL) are left out of lists and
// rankings unless the user asks for them. The choice is kept for this browser and shared by
// every page.
const SHOW_AGENT_KEY = "phydev.showAgentOwn";
const showAgentListeners = new Set();

function storedShowAgent() {
  try {
    return localStorage.getItem(SHOW_AGENT_KEY) === "1";
  } catch (_) {
    return false;  // storage refused (privacy settings): hidden, as by default
  }
}

/** [whether the agent's own objects are shown, a function to change that everywhere]. */
export function useShowAgent() {
  const [show, setShow] = useState(storedShowAgent);
  useEffect(() => {
    const update = () => setShow(storedShowAgent());
    showAgentListeners.add(update);
    return () => showAgentListeners.delete(update);
  }, []);
  const change = (value) => {
    try {
      if (value) localStorage.setItem(SHOW_AGENT_KEY, "1");
      else localStorage.removeItem(SHOW_AGENT_KEY);
    } catch (_) { /* kept for this page only */ }
    showAgentListeners.forEach((fn) => fn());
    setShow(value);
  };
  return [show, change];
}

/** The rows to show: without the agent's own objects unless `show`. */
export function withoutAgentOwn(rows, show) {
  return show ? rows : rows.filter((r) => !r.agentOwn);
}

/** The visible switch: "show the agent's own objects (N)". */
export function AgentToggle({ show, onChange, rows }) {
  const count = rows ? rows.filter((r) => r.agentOwn).length : null;
  return html`<label class="agent-toggle" data-testid="agent-toggle"
      title="the iterator programs, links and map that phydev itself loads to read the kernel">
    <input type="checkbox" checked=${show}
      onChange=${(e) => onChange(e.currentTarget.checked)}/>
    show the agent's own objects${count === null ? "" : ` (${count})`}</label>`;
}

/** A mark next to an object's title when it is one of the agent's own. */
export function AgentBadge({ obj }) {
  return obj && obj.agentOwn ? html` <span class="badge agent" data-testid="agent-badge"
    title="loaded by phydev itself to read the kernel">the agent's own</span>` : null;
}
