// /ui/graph/<program|map|link>/<id> : every program, map and link reachable from one object
// (programs -> maps they use -> programs using those, links -> their programs), and where
// each program is attached (Program.attachments: interfaces, cgroups, tracepoints and
// functions, the processes holding perf events), drawn with Cytoscape.js: drag to pan,
// wheel to zoom, click a program, map or link to open its page.
import { html, useEffect, useLazyModule, useRef } from "../lib.js";
import { useQuery } from "../api.js";
import { ErrorBox, Loader, ObjLink } from "../components.js";
import { navigate } from "../router.js";

const QUERY = `query Graph($id: Int!, $type: IdType!) {
  connectedGraph(from: $id, fromType: $type) {
    programs { id name type maps { id }
               attachments { kind attachType target ifindex ifname cgroupPath pid linkId mode } }
    maps { id name type }
    links { id type program { id } }
  }
}`;
const KINDS = { program: "PROGRAM", map: "MAP", link: "LINK" };

function elements(graph, startId) {
  const nodes = [];
  const edges = [];
  const node = (kind, o, label) => nodes.push({ data: { id: `${kind}:${o.id}`, kind,
    objId: o.id, label, start: `${kind}:${o.id}` === startId ? "yes" : "no" } });
  graph.programs.forEach((p) => node("program", p, `${p.name || "program"} #${p.id}\n${p.type}`));
  graph.maps.forEach((m) => node("map", m, `${m.name || "map"} #${m.id}\n${m.type}`));
  graph.links.forEach((l) => node("link", l, `link #${l.id}\n${l.type}`));
  const known = new Set(nodes.map((n) => n.data.id));
  graph.programs.forEach((p) => p.maps.forEach((m) => {
    if (known.has(`map:${m.id}`)) {
      edges.push({ data: { id: `e:p${p.id}-m${m.id}`, source: `program:${p.id}`,
        target: `map:${m.id}` } });
    }
  }));
  graph.links.forEach((l) => {
    if (l.program && known.has(`program:${l.program.id}`)) {
      edges.push({ data: { id: `e:l${l.id}-p${l.program.id}`, source: `link:${l.id}`,
        target: `program:${l.program.id}` } });
    }
  });
  attachPoints(graph, nodes, edges, known);
  return [...nodes, ...edges];
}

// An attachment's place as a node: [kind, key, label]. One node per place, shared by
// every program attached there.
const NET_KINDS = new Set(["xdp", "tc", "tcx", "netkit"]);
const HOOK_KINDS = new Set(["tracepoint", "raw_tracepoint", "kprobe", "uprobe", "tracing",
  "perf_event", "lsm"]);
function place(a) {
  if (NET_KINDS.has(a.kind) && (a.ifname || a.ifindex)) {
    const name = a.ifname || `ifindex ${a.ifindex}`;
    return ["interface", name, `interface\n${name}`];
  }
  if (a.cgroupPath || a.kind === "cgroup") {
    return ["cgroup", a.cgroupPath || a.target, `cgroup\n${a.cgroupPath || a.target}`];
  }
  if (HOOK_KINDS.has(a.kind)) return ["hook", a.target, `${a.kind}\n${a.target}`];
  return ["attach", `${a.kind} ${a.target}`, `${a.kind}\n${a.target}`];
}

/** Add the attach points of the graph's programs: place -> (its link ->) program, and the
 * process holding a perf event -> program. */
function attachPoints(graph, nodes, edges, known) {
  const add = (id, kind, label) => {
    if (known.has(id)) return;
    known.add(id);
    nodes.push({ data: { id, kind, label, start: "no" } });
  };
  const edge = (source, target, label = "") => {  // label: how (ingress, xdpgeneric, ...)
    const id = `e:${source}->${target}:${label}`;
    if (!known.has(id)) { known.add(id); edges.push({ data: { id, source, target, label } }); }
  };
  graph.programs.forEach((p) => (p.attachments || []).forEach((a) => {
    const [kind, key, label] = place(a);
    const id = `${kind}:${key}`;
    add(id, kind, label);
    const link = a.linkId && known.has(`link:${a.linkId}`) ? `link:${a.linkId}` : null;
    edge(id, link || `program:${p.id}`, a.mode || (link ? "" : a.attachType || ""));
    if (a.pid) {
      add(`process:${a.pid}`, "process", `process\n${a.pid}`);
      edge(`process:${a.pid}`, `program:${p.id}`);
    }
  }));
}

const STYLE = [
  { selector: "node", style: { label: "data(label)", "text-wrap": "wrap", "font-size": 10,
    "text-valign": "bottom", "text-margin-y": 4, width: 28, height: 28,
    "text-background-color": "#fff", "text-background-opacity": 0.85,
    "text-background-padding": 1 } },
  { selector: "node[kind = 'program']", style: { shape: "round-rectangle",
    "background-color": "#2563eb" } },
  { selector: "node[kind = 'map']", style: { shape: "ellipse", "background-color": "#059669" } },
  { selector: "node[kind = 'link']", style: { shape: "diamond", "background-color": "#d97706" } },
  { selector: "node[kind = 'interface']", style: { shape: "hexagon",
    "background-color": "#7c3aed" } },
  { selector: "node[kind = 'cgroup']", style: { shape: "barrel", "background-color": "#db2777" } },
  { selector: "node[kind = 'hook']", style: { shape: "triangle", "background-color": "#0891b2" } },
  { selector: "node[kind = 'process']", style: { shape: "vee", "background-color": "#4b5563" } },
  { selector: "node[kind = 'attach']", style: { shape: "tag", "background-color": "#a16207" } },
  { selector: "node[start = 'yes']", style: { "border-width": 4, "border-color": "#111827" } },
  { selector: "edge", style: { width: 1.5, "line-color": "#9ca3af", "curve-style": "bezier",
    "target-arrow-shape": "triangle", "target-arrow-color": "#9ca3af" } },
  { selector: "edge[label]", style: { label: "data(label)", "font-size": 9, color: "#4b5563",
    "text-background-color": "#fff", "text-background-opacity": 0.85 } },
];

function GraphCanvas({ graph, startId }) {
  const box = useRef(null);
  const [cytoscape, error] = useLazyModule("../vendor/cytoscape/cytoscape.esm.min.mjs");
  useEffect(() => {
    if (!cytoscape) return undefined;
    const cy = cytoscape({
      container: box.current, elements: elements(graph, startId), style: STYLE,
      layout: { name: "cose", animate: false, padding: 30, nodeRepulsion: () => 600000,
        idealEdgeLength: () => 110 },
      minZoom: 0.1, maxZoom: 4,
    });
    cy.on("tap", "node", (event) => {
      const { kind, objId } = event.target.data();
      if (objId === undefined) return;  // an attach point: no page of its own
      navigate(kind === "link" ? `graph/link/${objId}` : `${kind}s/${objId}`);
    });
    box.current.cy = cy;  // for the browser tests: where each node is drawn
    box.current.dataset.ready = "yes";
    return () => cy.destroy();
  }, [graph, cytoscape]);
  if (error) return html`<${ErrorBox} error=${error} what="loading Cytoscape.js"/>`;
  return html`<div class="graph" ref=${box} data-testid="graph"
    data-nodes=${graph.programs.length + graph.maps.length + graph.links.length}></div>`;
}

/** The attach points of the graph's programs, in words (what the canvas draws). */
function AttachList({ programs }) {
  const rows = programs.flatMap((p) => (p.attachments || []).map((a) => [p, a]));
  if (rows.length === 0) return html`<br/><b>attached</b> <span class="muted">nowhere</span>`;
  return html`<br/><b>attached</b> ${rows.map(([p, a]) => html`<span class="attach-item"
    data-testid="attach-point">${a.target}${a.pid ? ` (process ${a.pid})` : ""} →${" "}
    <${ObjLink} kind="program" id=${p.id} name=${p.name}/></span>`)}`;
}

export function Graph({ kind, id }) {
  const type = KINDS[kind];
  const state = useQuery(QUERY, { id, type }, [kind, id]);
  if (!type) return html`<p class="error">unknown kind ${kind}: use program, map or link</p>`;
  return html`<section>
    <h1>Connected graph of ${kind} #${id}</h1>
    <p class="muted">Drag to pan, scroll to zoom, click a node to open it. Programs are blue
      squares, maps green circles, links orange diamonds; where programs are attached:
      interfaces purple hexagons, cgroups pink barrels, tracepoints and functions cyan
      triangles, processes holding perf events grey.</p>
    <${Loader} state=${state} what="the graph">${(data) => html`
      <${GraphCanvas} graph=${data.connectedGraph} startId=${`${kind}:${id}`}/>
      <div class="graph-list">
        <b>programs</b> ${data.connectedGraph.programs.map((p) => html` <${ObjLink}
          kind="program" id=${p.id} name=${p.name}/>`)}
        <br/><b>maps</b> ${data.connectedGraph.maps.map((m) => html` <${ObjLink} kind="map"
          id=${m.id} name=${m.name}/>`)}
        <br/><b>links</b> ${data.connectedGraph.links.map((l) => html` <${ObjLink}
          kind="link" id=${l.id}/>`)}
        <${AttachList} programs=${data.connectedGraph.programs}/>
      </div>`}</${Loader}>
  </section>`;
}
