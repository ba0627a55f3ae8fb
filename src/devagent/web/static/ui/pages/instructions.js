// The program page's "Instructions" view: the translated instructions (what the verifier let
// run, as bpftool prints them) or the JIT code (needs capstone on the server), with function
// headers, source lines from BTF line info, the maps an instruction loads (links to their
// pages) and where calls and jumps go. Asked for only when opened: a program may have
// thousands of instructions.
import { html, useState } from "../lib.js";
import { useQuery } from "../api.js";
import { Loader, ObjLink } from "../components.js";
import { setQuery, useRoute } from "../router.js";

const QUERY = `query Instructions($id: Int!, $kind: InstructionKind) {
  program(id: $id) {
    instructions(kind: $kind) { offset text bytes function symbol functionOffset source file
      line column map { id name } mapValueOffset callee target }
  }
}`;
const KINDS = { xlated: ["XLATED", "translated (xlated)"], jited: ["JITED", "JIT code"] };
const FIRST_ROWS = 2000;

function rows(insns, limit) {
  const out = [];
  let source = null;
  for (const ins of insns.slice(0, limit)) {
    if (ins.function || ins.symbol) {
      out.push(html`<tr class="insn-func"><td colspan="4">${ins.symbol ? html`<span
        class="mono">${ins.symbol}</span> ` : null}${ins.function || ""}</td></tr>`);
    }
    if (ins.source && ins.source !== source) {
      out.push(html`<tr class="insn-src"><td colspan="4" class="mono">; <span
        class="insn-src-text">${ins.source}</span> <span class="muted">${ins.file
          ? `${ins.file}:${ins.line}:${ins.column}` : ""}</span></td></tr>`);
      source = ins.source;
    }
    out.push(html`<tr data-offset=${ins.offset}>
      <td class="num mono">${ins.offset}</td>
      <td class="mono muted insn-bytes">${ins.bytes}</td>
      <td class="mono insn-text">${ins.text}</td>
      <td>${ins.map ? html`<${ObjLink} kind="map" id=${ins.map.id} name=${ins.map.name}/>` : null}
        ${ins.target !== null && ins.target !== undefined ? html`<span class="muted">→
          ${ins.target}</span>` : null}</td>
    </tr>`);
  }
  return out;
}

function Listing({ id, kind }) {
  const state = useQuery(QUERY, { id, kind: KINDS[kind][0] }, [id, kind]);
  const [limit, setLimit] = useState(FIRST_ROWS);
  return html`<${Loader} state=${state} what=${`the ${KINDS[kind][1]}`}>${(data) => {
    const insns = data.program.instructions;
    return html`<p class="muted" data-testid="insn-count">${insns.length} instructions</p>
      <table class="grid insns" data-testid="instructions"><thead><tr><th>offset</th>
        <th>bytes</th><th>instruction</th><th></th></tr></thead>
        <tbody>${rows(insns, limit)}</tbody></table>
      ${insns.length > limit ? html`<button onClick=${() => setLimit(insns.length)}>show all
        ${insns.length}</button>` : null}`;
  }}</${Loader}>`;
}

export function Instructions({ id }) {
  const { query } = useRoute();
  const kind = KINDS[query.get("insns")] ? query.get("insns") : null;
  return html`<h2>Instructions</h2>
    <div class="toolbar" role="group" aria-label="instructions">
      ${Object.entries(KINDS).map(([key, [, label]]) => html`<button
        class=${kind === key ? "active" : ""} aria-pressed=${kind === key}
        onClick=${() => setQuery({ insns: kind === key ? null : key }, { replace: false })}
        >${kind === key ? `hide ${label}` : `show ${label}`}</button>`)}
    </div>
    ${kind ? html`<${Listing} id=${id} kind=${kind}/>` : null}`;
}
