// /ui/ : the host, its totals and how run statistics are collected, the programs costing the
// most CPU right now and the fullest maps. Refreshed every 2 s.
import { html } from "../lib.js";
import { useQuery } from "../api.js";
import {
  AgentToggle, Facts, FillBar, Link, Loader, ObjLink, useShowAgent, withoutAgentOwn,
} from "../components.js";
import { bytes, num, pct, rate } from "../format.js";
import { STATS_FIELDS, StatsMode } from "../stats.js";

const QUERY = `query Overview {
  host { hostname kernelRelease cpuCount ${STATS_FIELDS} programCount mapCount
         linkCount memlockBytes cpuPercent hostCpuPercent eventsPerSecond }
  programs { id name type cpuPercent eventsPerSecond avgRunTimeNs attachPoint agentOwn }
  maps { id name type maxEntries usedEntries fillRatio memlockBytes agentOwn }
}`;

// The kernel's feature table is probed once when the agent starts: asked once per visit.
const FEATURES = `query KernelFeatures {
  host { kernelRelease features { name title status detail since } }
}`;

const TOP = 10;

export function Overview() {
  const state = useQuery(QUERY, {}, [], 2000);
  const [showAgent, setShowAgent] = useShowAgent();
  return html`<section>
    <h1>Overview</h1>
    <${Loader} state=${state} what="the overview">${(data) => html`
      <${HostFacts} host=${data.host}/>
      <div class="toolbar"><${AgentToggle} show=${showAgent} onChange=${setShowAgent}
        rows=${[...data.programs, ...data.maps]}/></div>
      <div class="two-col">
        <${TopPrograms} programs=${withoutAgentOwn(data.programs, showAgent)}/>
        <${FullestMaps} maps=${withoutAgentOwn(data.maps, showAgent)}/>
      </div>`}</${Loader}>
    <${KernelFeatures}/>
  </section>`;
}

const STATUS_BADGE = { WORKS: "badge ok", DEGRADED: "badge degraded", UNAVAILABLE: "badge warn" };

function FeatureRows({ rows, testid }) {
  return html`<table class="grid" data-testid=${testid}>
    <thead><tr><th>feature</th><th>status</th><th>since</th><th>detail</th></tr></thead>
    <tbody>${rows.map((f) => html`<tr data-key=${f.name}>
      <td title=${f.title}>${f.name}</td>
      <td><span class=${STATUS_BADGE[f.status]}>${f.status.toLowerCase()}</span></td>
      <td>${f.since || ""}</td><td>${f.detail}</td></tr>`)}</tbody>
  </table>`;
}

// What this kernel lets the agent do: what does not work first, with how the agent does
// without it or why it cannot; every row behind a toggle.
function KernelFeatures() {
  const state = useQuery(FEATURES, {}, []);
  return html`<div class="card" data-testid="kernel-features">
    <h2>Kernel features</h2>
    <${Loader} state=${state} what="the kernel's features">${(data) => {
      const rows = data.host.features;
      const lacking = rows.filter((f) => f.status !== "WORKS");
      const count = (s) => rows.filter((f) => f.status === s).length;
      return html`<p>${count("WORKS")} work, ${count("DEGRADED")} degraded,
        ${count("UNAVAILABLE")} unavailable on kernel ${data.host.kernelRelease}
        <span class="muted">(probed when the agent started; <code>phydev inspect features</code>
        prints the same)</span></p>
        ${lacking.length ? html`<${FeatureRows} rows=${lacking} testid="lacking-features"/>` : ""}
        <details><summary>every feature</summary>
          <${FeatureRows} rows=${rows} testid="every-feature"/></details>`;
    }}</${Loader}>
  </div>`;
}

function HostFacts({ host }) {
  return html`<div class="card" data-testid="host">
    <${Facts} rows=${[
      ["host", host.hostname, "hostname"],
      ["kernel", host.kernelRelease, "kernelRelease"],
      ["CPUs", host.cpuCount, "cpuCount"],
      ["programs", html`<${Link} to="programs">${num(host.programCount)}</${Link}>`, "programCount"],
      ["maps", html`<${Link} to="maps">${num(host.mapCount)}</${Link}>`, "mapCount"],
      ["links", html`<${Link} to="links">${num(host.linkCount)}</${Link}>`, "linkCount"],
      ["map memory", bytes(host.memlockBytes), "memlockBytes"],
      ["stats mode", html`<${StatsMode} host=${host}/>`, "statsMode"],
      ["eBPF CPU", html`${pct(host.cpuPercent)} of one core
        <span class="muted">(${pct(host.hostCpuPercent)} of the host)</span>`, "cpuPercent"],
      ["events/s", rate(host.eventsPerSecond), "eventsPerSecond"],
    ]}/>
  </div>`;
}

function TopPrograms({ programs }) {
  const top = programs.filter((p) => p.cpuPercent !== null)
    .sort((a, b) => b.cpuPercent - a.cpuPercent || b.eventsPerSecond - a.eventsPerSecond)
    .slice(0, TOP);
  return html`<div class="card">
    <h2>Top programs by CPU</h2>
    ${top.length === 0 ? html`<p class="muted">No rates yet (they need two readings a second
      apart, and run statistics on).</p>` : html`
    <table class="grid" data-testid="top-programs">
      <thead><tr><th>program</th><th>type</th><th>attach</th><th class="num">CPU %</th>
        <th class="num">events/s</th><th class="num">avg ns</th></tr></thead>
      <tbody>${top.map((p) => html`<tr data-key=${p.id}>
        <td><${ObjLink} kind="program" id=${p.id} name=${p.name}/></td><td>${p.type}</td>
        <td>${p.attachPoint || ""}</td><td class="num">${pct(p.cpuPercent)}</td>
        <td class="num">${rate(p.eventsPerSecond)}</td>
        <td class="num">${num(p.avgRunTimeNs)}</td></tr>`)}</tbody>
    </table>`}
  </div>`;
}

function FullestMaps({ maps }) {
  // Arrays are always full (every index exists): leave them out, as the alerts do.
  const top = maps.filter((m) => m.fillRatio !== null && !m.type.endsWith("Array"))
    .sort((a, b) => b.fillRatio - a.fillRatio || b.usedEntries - a.usedEntries)
    .slice(0, TOP);
  return html`<div class="card">
    <h2>Fullest maps <span class="muted">(arrays, always full, left out)</span></h2>
    <table class="grid" data-testid="fullest-maps">
      <thead><tr><th>map</th><th>type</th><th class="num">entries</th><th>fill</th>
        <th class="num">memlock</th></tr></thead>
      <tbody>${top.map((m) => html`<tr data-key=${m.id}>
        <td><${ObjLink} kind="map" id=${m.id} name=${m.name}/></td><td>${m.type}</td>
        <td class="num">${num(m.usedEntries)} / ${num(m.maxEntries)}</td>
        <td><${FillBar} ratio=${m.fillRatio} used=${m.usedEntries} max=${m.maxEntries}/></td>
        <td class="num">${bytes(m.memlockBytes)}</td></tr>`)}</tbody>
    </table>
  </div>`;
}
