// /ui/maps/<id> : one map's details (with pinning), the programs using it, its owners, and
// the entries browser (pages/entries.js).
import { html, useState } from "../lib.js";
import { gql, useQuery } from "../api.js";
import { AgentBadge, ErrorBox, Facts, FillBar, Link, Loader, ObjLink } from "../components.js";
import { bytes, num, yesNo } from "../format.js";
import { Owners } from "./program.js";
import { Entries, ReadOnlyNote } from "./entries.js";

const QUERY = `query MapPage($id: Int!) {
  serverInfo { allowWrites writesDisabledReason possibleCpus bpfDir }
  map(id: $id) {
    id error agentOwn name type flags flagNames isPinned pins keySize valueSize maxEntries entriesCount
    usedEntries fillRatio memlockBytes isPerCPU isLookupSupported btfId btfKeyTypeId
    btfValueTypeId btfKeyTypeName btfValueTypeName frozen
    programs { id name type }
    owners { pid comm fd cgroup systemdUnit container { id runtime }
             pod { uid name namespace } }
  }
}`;

export function MapPage({ id }) {
  const state = useQuery(QUERY, { id }, [id]);
  return html`<section>
    <${Loader} state=${state} what=${`map ${id}`}>${(data) => html`
      <${Details} m=${data.map} server=${data.serverInfo} reload=${state.reload}/>
      <${Entries} m=${data.map} server=${data.serverInfo} onChanged=${state.reload}/>`}
    </${Loader}>
  </section>`;
}

function Details({ m, server, reload }) {
  return html`
    <h1>Map ${m.name || "(no name)"} <span class="muted">#${m.id}</span
      ><${AgentBadge} obj=${m}/></h1>
    <p><${Link} to=${`graph/map/${m.id}`}>connected graph</${Link}></p>
    ${m.error ? html`<${ErrorBox} error=${{ message: m.error }} what="kernel"/>` : null}
    <div class="two-col">
      <div class="card"><${Facts} rows=${[
        ["ID", m.id, "id"], ["name", m.name, "name"], ["type", m.type, "type"],
        ["key size", `${m.keySize} bytes`, "keySize"],
        ["value size", `${m.valueSize} bytes`, "valueSize"],
        ["max entries", num(m.maxEntries), "maxEntries"],
        ["flags", `${m.flags}${m.flagNames.length ? " (" + m.flagNames.join(", ") + ")" : ""}`,
          "flags"],
        ["per-CPU", yesNo(m.isPerCPU), "isPerCPU"],
        ["frozen", yesNo(m.frozen), "frozen"],
        ["key type", btfType(m.btfKeyTypeName, m.btfKeyTypeId), "btfKeyType"],
        ["value type", btfType(m.btfValueTypeName, m.btfValueTypeId), "btfValueType"],
        ["BTF", m.btfId ? `object ${m.btfId}` : "none", "btf"],
      ]}/></div>
      <div class="card"><${Facts} rows=${[
        ["entries", num(m.entriesCount), "entriesCount"],
        ["fill", html`<${FillBar} ratio=${m.fillRatio} used=${m.usedEntries}
          max=${m.maxEntries}/>`, "fill"],
        ["memlock", bytes(m.memlockBytes), "memlockBytes"],
        ["pins", m.pins && m.pins.length ? m.pins.join(", ") : "not pinned", "pins"],
      ]}/>
      <${PinForm} m=${m} server=${server} reload=${reload}/></div>
    </div>
    <h2>Programs using it</h2>
    ${m.programs.length === 0 ? html`<p class="muted">none</p>` : html`<ul class="inline">
      ${m.programs.map((p) => html`<li><${ObjLink} kind="program" id=${p.id} name=${p.name}/>
        <span class="muted">${p.type}</span></li>`)}</ul>`}
    <h2>Owners</h2>
    <${Owners} owners=${m.owners}/>`;
}

/** A BTF type by its C name, with its id aside; without BTF, a dash (bytes only). */
function btfType(name, id) {
  if (!id) return null;
  return html`<code>${name || "?"}</code> <span class="muted">(BTF type ${id})</span>`;
}

function PinForm({ m, server, reload }) {
  const [path, setPath] = useState("");
  const [status, setStatus] = useState(null);
  const readOnly = !server.allowWrites;
  const submit = async (event) => {
    event.preventDefault();
    setStatus({ busy: true });
    try {
      // pinMap takes only absolute paths (a relative one is refused): a name typed here is
      // one under the server's bpfDir.
      const full = path.startsWith("/") ? path : `${server.bpfDir.replace(/\/+$/, "")}/${path}`;
      const data = await gql(`mutation PinMap($id: Int!, $path: String!) {
        pinMap(id: $id, path: $path) { error } }`, { id: m.id, path: full });
      if (data.pinMap.error) { setStatus({ error: data.pinMap.error }); return; }
      await reload();
      setStatus({ ok: `pinned at ${path}` });
      setPath("");
    } catch (error) {
      setStatus({ error: error.message });
    }
  };
  return html`<form class="pin-form" onSubmit=${submit} data-testid="pin-form">
    <label>pin at <input value=${path} onInput=${(e) => setPath(e.currentTarget.value)}
      placeholder=${`path under ${server.bpfDir}`} disabled=${readOnly} required/></label>
    <button type="submit" disabled=${readOnly || (status && status.busy)}
      title=${readOnly ? server.writesDisabledReason : "pin this map in bpffs"}>Pin</button>
    ${readOnly ? html`<${ReadOnlyNote} server=${server}/>` : null}
    ${status && status.error ? html`<div class="error" role="alert">${status.error}</div>` : null}
    ${status && status.ok ? html`<div class="ok" role="status">${status.ok}</div>` : null}
  </form>`;
}
