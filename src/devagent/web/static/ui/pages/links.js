// /ui/links : every bpf link (what attaches a program where: its attach type and the place in
// words, attach.js), with its program, pins and owners; each opens the connected graph
// around it.
import { html } from "../lib.js";
import { useQuery } from "../api.js";
import {
  AgentToggle, Link, Loader, ObjLink, useShowAgent, withoutAgentOwn,
} from "../components.js";
import { linkAttachType, linkWhere } from "../attach.js";

const QUERY = `query Links {
  links { id error type attachType ifindex interfaceName cgroupId cgroupPath netnsIno
          netfilterFamily netfilterHook netfilterPriority tracingTarget mapId details pins
          agentOwn program { id name type } owners { pid comm } }
}`;

export function Links() {
  const state = useQuery(QUERY, {}, [], 5000);
  const [showAgent, setShowAgent] = useShowAgent();
  return html`<section>
    <h1>Links</h1>
    <${Loader} state=${state} what="links">${(data) => html`<div class="toolbar">
      <${AgentToggle} show=${showAgent} onChange=${setShowAgent} rows=${data.links}/></div>
      <${LinkTable} links=${withoutAgentOwn(data.links, showAgent)}/>`}</${Loader}>
  </section>`;
}

function LinkTable({ links }) {
  return links.length === 0 ? html`<p class="muted">No bpf links on this host.</p>` : html`
      <div class="table-scroll"><table class="grid" data-testid="links"><thead><tr>
        <th>link</th><th>type</th><th>attach type</th><th>program</th><th>where</th><th>pins</th><th>owners</th>
        <th></th></tr></thead>
      <tbody>${links.map((l) => html`<tr data-key=${l.id}>
        <td>${l.id}</td>
        <td>${l.error ? html`<span class="error-text">${l.error}</span>` : l.type}</td>
        <td data-col="attachType">${linkAttachType(l)}</td>
        <td>${l.program ? html`<${ObjLink} kind="program" id=${l.program.id}
          name=${l.program.name}/>` : ""}</td>
        <td data-col="where">${linkWhere(l)[1]}</td>
        <td>${l.pins.join(", ")}</td>
        <td>${l.owners.map((o) => `${o.comm || "?"} (${o.pid})`).join(", ")}</td>
        <td><${Link} to=${`graph/link/${l.id}`}>graph</${Link}></td>
      </tr>`)}</tbody></table></div>`;
}
