// /ui/fleet : every node's agent, as the Prometheus given with --prometheus sees them: the
// nodes, the programs costing the most CPU (or running most often) anywhere, the fullest maps,
// where a program runs, what changed (programs appeared, vanished, counts) over the last hour,
// day or week (`?since=SECONDS` for any other window), and the fleet's eBPF CPU over the last
// hour. Each section asks its
// own query, so one Prometheus refusal leaves the others standing. Refreshed every 15 s (the
// data moves once per scrape).
import { html, useState } from "../lib.js";
import { setQuery, useRoute } from "../router.js";
import { useQuery } from "../api.js";
import { FillBar, Loader, Sparkline } from "../components.js";
import { TimeChart } from "../chart.js";
import { DASH, num, rate } from "../format.js";

const STATUS = `query FleetStatus { fleet { configured prometheus error rateWindow } }`;
const NODES = `query FleetNodes {
  fleet { nodes { name instance up version kernel programCount mapCount cpuCores
                  eventsPerSecond statsEnabled url } }
}`;
const TOP = `query FleetTopPrograms($by: FleetOrder!, $limit: Int!) {
  fleet { topPrograms(by: $by, limit: $limit) { node id name type tag cpuCores
                                                eventsPerSecond url } }
}`;
const MAPS = `query FleetFullestMaps($limit: Int!) {
  fleet { fullestMaps(limit: $limit) { node id name type fill entries maxEntries url } }
}`;
const WHERE = `query FleetWhere($name: String, $tag: String) {
  fleet { programsWhere(name: $name, tag: $tag) { node id name type tag attach workload url } }
}`;
const HISTORY = `query FleetHistory($seconds: Int!, $step: Int!) {
  fleet { history(metric: CPU, seconds: $seconds, step: $step) { node points { t v } } }
}`;

const CHANGES = `query FleetChanges($seconds: Int!) {
  fleet { changes(seconds: $seconds) { node name tag type change before after url } }
}`;
const WINDOWS = [[3600, "last hour"], [86400, "last day"], [604800, "last week"]];

const EVERY = 15000;
const cores = (v) => (v === null || v === undefined ? DASH : `${(v * 100).toFixed(2)}%`);

function NodeName({ name, url }) {
  return url ? html`<a href=${url} title="this node's agent">${name}</a>` : name;
}

export function Fleet() {
  const state = useQuery(STATUS, {}, []);
  return html`<section>
    <h1>Fleet</h1>
    <${Loader} state=${state} what="the fleet">${(data) => data.fleet.configured ? html`
      <p class="muted" data-testid="fleet-source">Every node's agent, as${" "}
        <code>${data.fleet.prometheus}</code> sees them. CPU is eBPF run time per second, in %
        of one core; rates over <span data-testid="fleet-window">${data.fleet.rateWindow}</span>.</p>
      <${Nodes}/>
      <${History}/>
      <div class="two-col"><${TopPrograms}/><${FullestMaps}/></div>
      <${Changes}/>
      <${Where}/>` : html`<div class="card" data-testid="fleet-off">
        <p>${data.fleet.error}</p>
        <p class="muted">Point it at the Prometheus (or Thanos, Mimir, VictoriaMetrics) that
          scrapes every node's agent: <code>phydev server --prometheus http://prometheus:9090
          </code>; each agent names its node with <code>--node-name</code> (the DaemonSet sets
          it from the node).</p></div>`}</${Loader}>
  </section>`;
}

function Nodes() {
  const state = useQuery(NODES, {}, [], EVERY);
  const spark = useQuery(HISTORY, { seconds: 3600, step: 60 }, [], 60000);
  const byNode = {};
  for (const s of spark.data ? spark.data.fleet.history : []) {
    byNode[s.node] = s.points.map((p) => p.v);
  }
  return html`<div class="card"><h2>Nodes</h2>
    <${Loader} state=${state} what="the nodes">${(data) => data.fleet.nodes.length === 0
      ? html`<p class="muted">Prometheus scrapes no agent.</p>` : html`
      <div class="table-scroll"><table class="grid" data-testid="fleet-nodes"><thead><tr>
        <th>node</th><th>up</th><th class="num">programs</th><th class="num">maps</th>
        <th class="num">eBPF CPU</th><th>last hour</th><th class="num">events/s</th>
        <th>run stats</th><th>agent</th><th>kernel</th></tr></thead>
      <tbody>${data.fleet.nodes.map((n) => html`<tr data-key=${n.name}>
        <td><${NodeName} name=${n.name} url=${n.url}/></td>
        <td>${n.up ? "yes" : html`<span class="error-text">down</span>`}</td>
        <td class="num">${num(n.programCount)}</td><td class="num">${num(n.mapCount)}</td>
        <td class="num">${cores(n.cpuCores)}</td>
        <td><${Sparkline} values=${byNode[n.name] || []}/></td>
        <td class="num">${rate(n.eventsPerSecond)}</td>
        <td>${n.statsEnabled === null ? DASH : n.statsEnabled ? "on" : "off"}</td>
        <td>${n.version || DASH}</td><td>${n.kernel || DASH}</td></tr>`)}</tbody>
      </table></div>`}</${Loader}></div>`;
}

function History() {
  const state = useQuery(HISTORY, { seconds: 3600, step: 30 }, [], 60000);
  return html`<div class="card"><h2>eBPF CPU, whole fleet, last hour</h2>
    <${Loader} state=${state} what="the history">${(data) => {
      const total = new Map();
      for (const s of data.fleet.history) {
        for (const p of s.points) total.set(p.t, (total.get(p.t) || 0) + p.v * 100);
      }
      const known = [...total.keys()].sort((a, b) => a - b);
      if (known.length === 0) return html`<p class="muted">No history yet.</p>`;
      // The whole hour on the axis, however little of it Prometheus holds yet.
      const now = Date.now() / 1000;
      const times = [Math.min(now - 3600, known[0]), ...known, Math.max(now, known.at(-1))];
      const values = [null, ...known.map((t) => total.get(t)), null];
      return html`<${TimeChart} title="eBPF CPU (% of one core)" times=${times}
          values=${values} unit="%" testid="fleet-history"/>`;
    }}</${Loader}></div>`;
}

function TopPrograms() {
  const [by, setBy] = useState("CPU");
  const state = useQuery(TOP, { by, limit: 15 }, [by], EVERY);
  return html`<div class="card"><h2>Top programs, all nodes</h2>
    <div class="toolbar"><label>by <select value=${by} aria-label="rank by"
      onChange=${(e) => setBy(e.currentTarget.value)}>
      <option value="CPU">CPU</option><option value="EVENTS">events/s</option></select></label>
    </div>
    <${Loader} state=${state} what="the top programs">${(data) => html`
      <div class="table-scroll"><table class="grid" data-testid="fleet-top"><thead><tr>
        <th>node</th><th>program</th><th>type</th><th class="num">CPU</th>
        <th class="num">events/s</th></tr></thead>
      <tbody>${data.fleet.topPrograms.map((p) => html`<tr data-key=${`${p.node}/${p.id}`}>
        <td><${NodeName} name=${p.node} url=${p.url}/></td>
        <td>${p.url ? html`<a href=${`${p.url}programs/${p.id}`}>${p.name} (${p.id})</a>`
          : `${p.name} (${p.id})`}</td>
        <td>${p.type}</td><td class="num">${cores(p.cpuCores)}</td>
        <td class="num">${rate(p.eventsPerSecond)}</td></tr>`)}</tbody></table></div>`}
    </${Loader}></div>`;
}

function FullestMaps() {
  const state = useQuery(MAPS, { limit: 15 }, [], EVERY);
  return html`<div class="card"><h2>Fullest maps, all nodes</h2>
    <${Loader} state=${state} what="the fullest maps">${(data) => html`
      <div class="table-scroll"><table class="grid" data-testid="fleet-maps"><thead><tr>
        <th>node</th><th>map</th><th>type</th><th>fill</th></tr></thead>
      <tbody>${data.fleet.fullestMaps.map((m) => html`<tr data-key=${`${m.node}/${m.id}`}>
        <td><${NodeName} name=${m.node} url=${m.url}/></td>
        <td>${m.url ? html`<a href=${`${m.url}maps/${m.id}`}>${m.name} (${m.id})</a>`
          : `${m.name} (${m.id})`}</td><td>${m.type}</td>
        <td><${FillBar} ratio=${m.fill} used=${m.entries} max=${m.maxEntries}/></td>
      </tr>`)}</tbody></table></div>`}</${Loader}></div>`;
}

function Where() {
  const [text, setText] = useState("");
  const [asked, setAsked] = useState(null);
  const byTag = asked !== null && /^[0-9a-f]{16}$/.test(asked);
  const vars = byTag ? { tag: asked } : { name: asked };
  const state = useQuery(asked ? WHERE : null, vars, [asked]);
  const submit = (event) => { event.preventDefault(); setAsked(text.trim() || null); };
  return html`<div class="card"><h2>Where does it run?</h2>
    <form class="toolbar" onSubmit=${submit}>
      <input type="search" aria-label="program name or tag" value=${text}
        placeholder="a program's name (or part of it), or its 16-digit tag"
        onInput=${(e) => setText(e.currentTarget.value)}/>
      <button type="submit">Find</button></form>
    ${asked ? html`<${Loader} state=${state} what="where it runs">${(data) => {
      const rows = data.fleet.programsWhere;
      const nodes = new Set(rows.map((p) => p.node));
      const what = `${rows.length} program(s) on ${nodes.size} node(s)`;
      return html`<p data-testid="fleet-where-summary">${what}${" "}
        ${byTag ? "with tag" : "named like"}${" "}<code>${asked}</code></p>
        <div class="table-scroll"><table class="grid" data-testid="fleet-where"><thead><tr>
          <th>node</th><th>program</th><th>type</th><th>tag</th><th>attached</th>
          <th>workload</th></tr></thead>
        <tbody>${rows.map((p) => html`<tr data-key=${`${p.node}/${p.id}`}>
          <td><${NodeName} name=${p.node} url=${p.url}/></td><td>${p.name} (${p.id})</td>
          <td>${p.type}</td><td><code>${p.tag}</code></td><td>${p.attach || DASH}</td>
          <td>${p.workload || DASH}</td></tr>`)}</tbody></table></div>`;
    }}</${Loader}>` : null}
  </div>`;
}

function Changes() {
  const { query } = useRoute();
  const asked = /^\d+$/.test(query.get("since") || "") ? Number(query.get("since")) : 86400;
  const windows = WINDOWS.some(([s]) => s === asked) ? WINDOWS
    : [...WINDOWS, [asked, `last ${asked} s`]];
  const state = useQuery(CHANGES, { seconds: asked }, [asked], 60000);
  const counts = (c) => c.change === "COUNT" ? `${c.before} → ${c.after}`
    : c.change === "APPEARED" ? `new (${c.after})` : `gone (${c.before})`;
  return html`<div class="card"><h2>What changed</h2>
    <div class="toolbar"><label>over the <select value=${String(asked)} aria-label="changed over"
      onChange=${(e) => setQuery({ since: e.currentTarget.value })}>
      ${windows.map(([s, label]) => html`<option value=${String(s)}>${label}</option>`)}
      </select></label></div>
    <${Loader} state=${state} what="what changed">${(data) => {
      const rows = data.fleet.changes;
      if (rows.length === 0) return html`<p class="muted" data-testid="fleet-changes-none">
        No program appeared, vanished or changed its count on any node.</p>`;
      return html`<div class="table-scroll"><table class="grid" data-testid="fleet-changes">
        <thead><tr><th>node</th><th>program</th><th>type</th><th>tag</th><th>change</th>
        </tr></thead>
        <tbody>${rows.map((c) => html`<tr data-key=${`${c.node}/${c.name}/${c.tag}`}>
          <td><${NodeName} name=${c.node} url=${c.url}/></td><td>${c.name}</td>
          <td>${c.type || DASH}</td><td><code>${c.tag || DASH}</code></td>
          <td class=${c.change === "VANISHED" ? "error-text" : ""}>${counts(c)}</td>
        </tr>`)}</tbody></table></div>`;
    }}</${Loader}></div>`;
}
