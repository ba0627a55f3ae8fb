// /ui/programs/<id> : every detail the kernel gives about one program, where it is attached
// (every attachment: links, netlink XDP and tc, cgroups, perf events), who holds it, the
// maps it uses, and charts of its rates.
import { html } from "../lib.js";
import { useQuery } from "../api.js";
import { AgentBadge, ErrorBox, Facts, Link, Loader, ObjLink } from "../components.js";
import { TimeChart } from "../chart.js";
import { duration, num, pct, rate, yesNo } from "../format.js";
import { Instructions } from "./instructions.js";
import { StatsNotice } from "../stats.js";

const QUERY = `query ProgramPage($id: Int!) {
  program(id: $id) {
    id error agentOwn name fullName metadata { key value } type tag runTime runCount avgRunTime btfId verifierLog isPinned pins
    loadedAt uid xlatedSize jitedSize verifiedInsns recursionMisses gplCompatible
    eventsPerSecond cpuPercent avgRunTimeNs recursionMissesPerSecond attachPoint
    maps { id name type maxEntries fillRatio usedEntries }
    tasks { pid fd type name probeOffset probeAddr }
    attachments { mechanism kind attachType target pid linkId }
    links { id type attachType interfaceName cgroupPath details pins }
    owners { pid comm fd cgroup systemdUnit container { id runtime }
             pod { uid name namespace } }
  }
  programStats(ids: [$id], seconds: 300) {
    points { time eventsPerSecond cpuPercent }
  }
}`;

export function Program({ id }) {
  const state = useQuery(QUERY, { id }, [id], 2000);
  return html`<section>
    <${Loader} state=${state} what=${`program ${id}`}>${(data) => html`
      <${Details} p=${data.program}/>
      <${StatsNotice}/>
      <${Charts} series=${data.programStats[0]}/>
      <${Instructions} id=${id}/>`}</${Loader}>
  </section>`;
}

function Details({ p }) {
  return html`
    <h1>Program ${p.fullName || p.name || "(no name)"} <span class="muted">#${p.id}</span
      ><${AgentBadge} obj=${p}/></h1>
    <p><${Link} to=${`graph/program/${p.id}`}>connected graph</${Link}></p>
    ${p.error ? html`<${ErrorBox} error=${{ message: p.error }} what="kernel"/>` : null}
    <div class="two-col">
      <div class="card"><${Facts} rows=${[
        ["ID", p.id, "id"], ["name", p.name, "name"], ["full name", p.fullName, "fullName"],
        ["type", p.type, "type"],
        ["tag", html`<span class="mono">${p.tag}</span>`, "tag"],
        ["attached", p.attachPoint, "attachPoint"],
        ["loaded at", p.loadedAt, "loadedAt"], ["loaded by uid", p.uid, "uid"],
        ["BTF id", p.btfId, "btfId"], ["GPL compatible", yesNo(p.gplCompatible), "gpl"],
        ["pinned", p.pins.length ? p.pins.join(", ") : yesNo(p.isPinned), "pins"],
        ["translated size", p.xlatedSize === null ? null : `${num(p.xlatedSize)} bytes`,
          "xlatedSize"],
        ["JIT size", p.jitedSize === null ? null : `${num(p.jitedSize)} bytes`, "jitedSize"],
        ["verified instructions", num(p.verifiedInsns), "verifiedInsns"],
        ["metadata", p.metadata && p.metadata.length ? p.metadata.map((m) => `${m.key} = ${
          m.value}`).join(", ") : null, "metadata"],
        ["verifier log", p.verifierLog || html`<span class="muted">not kept by the kernel
          for loaded programs</span>`, "verifierLog"],
      ]}/></div>
      <div class="card"><${Facts} rows=${[
        ["run count", num(p.runCount), "runCount"],
        ["run time", p.runTime === null ? null
          : `${num(Math.round(p.runTime * 1e9))} ns (${duration(p.runTime)})`, "runTime"],
        ["average run time", duration(p.avgRunTime), "avgRunTime"],
        ["recursion misses", num(p.recursionMisses), "recursionMisses"],
        ["events/s", rate(p.eventsPerSecond), "eventsPerSecond"],
        ["CPU", pct(p.cpuPercent), "cpuPercent"],
        ["avg ns (latest interval)", num(p.avgRunTimeNs), "avgRunTimeNs"],
        ["recursion misses/s", rate(p.recursionMissesPerSecond), "recursionMissesPerSecond"],
      ]}/></div>
    </div>
    <h2>Maps</h2>
    ${p.maps.length === 0 ? html`<p class="muted">uses no maps</p>` : html`
    <table class="grid" data-testid="program-maps"><thead><tr><th>map</th><th>type</th>
      <th class="num">entries</th></tr></thead>
      <tbody>${p.maps.map((m) => html`<tr data-key=${m.id}>
        <td><${ObjLink} kind="map" id=${m.id} name=${m.name}/></td><td>${m.type}</td>
        <td class="num">${num(m.usedEntries)} / ${num(m.maxEntries)}</td></tr>`)}</tbody>
    </table>`}
    <h2>Attach points</h2>
    <${Attachments} attachments=${p.attachments}/>
    ${p.links.length ? html`<table class="grid" data-testid="program-links"><thead><tr>
      <th>link</th><th>type</th><th>attach type</th><th>where</th><th>pins</th></tr></thead>
      <tbody>${p.links.map((l) => html`<tr data-key=${l.id}>
        <td><${ObjLink} kind="link" id=${l.id}/></td><td>${l.type}</td>
        <td>${l.attachType || ""}</td>
        <td>${l.interfaceName || l.cgroupPath || l.details || ""}</td>
        <td>${l.pins.join(", ")}</td></tr>`)}</tbody></table>` : null}
    ${p.tasks.length ? html`<table class="grid" data-testid="program-tasks"><thead><tr>
      <th>pid</th><th>fd</th><th>type</th><th>name</th><th>offset</th><th>address</th>
      </tr></thead><tbody>${p.tasks.map((t) => html`<tr>
        <td>${t.pid}</td><td>${t.fd}</td><td>${t.type}</td><td>${t.name || ""}</td>
        <td class="mono">${t.probeOffset}</td><td class="mono">${t.probeAddr}</td></tr>`)}
      </tbody></table>` : null}
    <h2>Owners</h2>
    <${Owners} owners=${p.owners}/>`;
}

// Every attachment, whatever made it; the links and perf-event tables below give their details.
function Attachments({ attachments }) {
  if (!attachments.length) return html`<p class="muted" data-testid="no-attachments">attached
    nowhere the kernel lists (a socket filter attached with setsockopt is listed nowhere)</p>`;
  const how = (a) => [a.linkId != null ? `link ${a.linkId}` : a.mechanism,
    a.pid != null ? `pid ${a.pid}` : ""].filter(Boolean).join(", ");
  return html`<table class="grid" data-testid="program-attachments"><thead><tr>
    <th>where</th><th>kind</th><th>attach type</th><th>made by</th></tr></thead>
    <tbody>${attachments.map((a, i) => html`<tr data-key=${i}>
      <td>${a.target}</td><td>${a.kind}</td><td>${a.attachType || ""}</td>
      <td>${how(a)}</td></tr>`)}</tbody></table>`;
}

export function Owners({ owners }) {
  if (!owners.length) return html`<p class="muted">no process holds a file descriptor to it
    (it is kept by a pin or an attachment)</p>`;
  const where = (o) => {
    if (o.pod) return `pod ${o.pod.namespace || "?"}/${o.pod.name || o.pod.uid}`;
    if (o.container) return `${o.container.runtime} container ${o.container.id.slice(0, 12)}`;
    return o.systemdUnit || o.cgroup || "";
  };
  return html`<table class="grid" data-testid="owners"><thead><tr><th>pid</th><th>command</th>
    <th>fd</th><th>runs in</th></tr></thead><tbody>${owners.map((o) => html`<tr>
    <td>${o.pid}</td><td>${o.comm || ""}</td><td>${o.fd}</td>
    <td title=${o.cgroup || ""}>${where(o)}</td></tr>`)}</tbody></table>`;
}

function Charts({ series }) {
  const points = series ? series.points : [];
  const times = points.map((p) => p.time);
  return html`<h2>Rates over time</h2>
    <p class="muted">Sampled every second by the agent while someone watches (at most five
      minutes).</p>
    <div class="two-col">
      <${TimeChart} title="events/s" unit="" testid="chart-events" times=${times}
        values=${points.map((p) => p.eventsPerSecond)}/>
      <${TimeChart} title="CPU %" unit="%" testid="chart-cpu" times=${times}
        values=${points.map((p) => p.cpuPercent)}/>
    </div>`;
}
