// The entries browser of a map page: paging, jump to a key, key and value formats (HEX,
// STRING, NUMBER, BTF with struct fields as columns or as a tree; BTF by default where the
// map has BTF, as bpftool does), one column per CPU and their total for per-CPU maps, sort by
// value, a field or the per-CPU sum (a click on a column's head), the top N, a key search,
// and editing when the agent allows writes (BTF struct values field by field,
// entry_fields.js). After every change the page is read
// again from the kernel, and what the kernel holds is what is shown: an edit never looks saved
// when it is not.
import { html, useState } from "../lib.js";
import { gql, useQuery } from "../api.js";
import { Loader } from "../components.js";
import { num } from "../format.js";
import { setQuery, useRoute } from "../router.js";
import { FieldInputs, fieldProblem, fieldsJson, fieldText, structFields } from
  "./entry_fields.js";

const FORMATS = ["HEX", "STRING", "NUMBER", "BTF"];
const PAGE_SIZES = [16, 32, 100, 500];
const ENTRIES = `query MapEntries($id: Int!, $offset: Int, $limit: Int, $kf: MapEntryFormat,
    $vf: MapEntryFormat, $rkf: MapEntryFormat, $sort: String, $desc: Boolean, $top: Int,
    $q: String) {
  map(id: $id) {
    isPerCPU entriesCount
    valueFields { path typeName kind bits signed minimum maximum enumNames }
    entries(offset: $offset, limit: $limit, keyFormat: $kf, valueFormat: $vf, sortBy: $sort,
      descending: $desc, top: $top, keySearch: $q) { key value cpuValues total }
    raw: entries(offset: $offset, limit: $limit, keyFormat: $rkf, valueFormat: HEX,
      sortBy: $sort, descending: $desc, top: $top, keySearch: $q, keySearchFormat: $kf) {
      key value cpuValues }
  }
}`;

/** Writes need HEX, STRING or NUMBER: BTF views edit the raw bytes in HEX. */
const writable = (fmt) => (fmt === "BTF" ? "HEX" : fmt);

export function ReadOnlyNote({ server }) {
  return html`<p class="readonly" role="note" data-testid="read-only">Read-only:${" "}
    ${server.writesDisabledReason}</p>`;
}

/** The view asked for in the URL: sort (key, value, sum or a field path), direction, top N,
 * key search. */
function entryView(query) {
  const sort = query.get("sort") || "key";
  const desc = query.get("dir") === "asc" ? false : query.get("dir") === "desc" ? true : null;
  const top = /^\d+$/.test(query.get("top") || "") ? Number(query.get("top")) : null;
  return { sort, desc, top, q: query.get("q") || null };
}

export function Entries({ m, server, onChanged }) {
  const { query } = useRoute();
  const kf = FORMATS.includes(query.get("kf")) ? query.get("kf")
    : (m.btfKeyTypeId ? "BTF" : "HEX");
  const vf = FORMATS.includes(query.get("vf")) ? query.get("vf")
    : (m.btfValueTypeId ? "BTF" : "HEX");
  const ev = entryView(query);
  const limit = PAGE_SIZES.includes(Number(query.get("limit"))) ? Number(query.get("limit")) : 32;
  const offset = Math.max(0, Number(query.get("offset")) || 0);
  const view = query.get("view") === "tree" ? "tree" : "columns";
  const [highlight, setHighlight] = useState(null);
  const [notice, setNotice] = useState(null);
  const vars = { id: m.id, offset, limit, kf, vf, rkf: writable(kf),
    sort: ev.sort === "key" ? null : ev.sort, desc: ev.desc, top: ev.top, q: ev.q };
  const state = useQuery(ENTRIES, vars, [m.id, offset, limit, kf, vf, ev.sort, ev.desc,
    ev.top, ev.q]);
  if (!m.isLookupSupported) {
    return html`<h2>Entries</h2><p class="muted">The kernel does not let user space read the
      entries of ${m.type} maps.</p>`;
  }
  const changed = async (message, rawKey) => {
    await Promise.all([state.reload(), onChanged()]);
    setNotice({ message, rawKey });
    setHighlight(null);
  };
  // Paging and formats are history entries: the browser's back button returns to them.
  const go = (params) => { setHighlight(null); setNotice(null);
    setQuery(params, { replace: false }); };
  return html`<h2>Entries</h2>
    ${server.allowWrites ? null : html`<${ReadOnlyNote} server=${server}/>`}
    <div class="toolbar entries-toolbar">
      <label>key <select aria-label="key format" value=${kf}
        onChange=${(e) => go({ kf: e.currentTarget.value, offset: 0 })}>
        ${FORMATS.map((f) => html`<option value=${f}>${f}</option>`)}</select></label>
      <label>value <select aria-label="value format" value=${vf}
        onChange=${(e) => go({ vf: e.currentTarget.value })}>
        ${FORMATS.map((f) => html`<option value=${f}>${f}</option>`)}</select></label>
      ${vf === "BTF" ? html`<label>show <select aria-label="BTF view" value=${view}
        onChange=${(e) => setQuery({ view: e.currentTarget.value })}>
        <option value="columns">fields as columns</option>
        <option value="tree">tree</option></select></label>` : null}
      <label>per page <select aria-label="page size" value=${limit}
        onChange=${(e) => go({ limit: e.currentTarget.value, offset: 0 })}>
        ${PAGE_SIZES.map((n) => html`<option value=${n}>${n}</option>`)}</select></label>
      <${JumpToKey} m=${m} kf=${kf} limit=${limit} onFound=${(pos) => {
        setNotice(null); setHighlight(pos);
        setQuery({ offset: pos - (pos % limit), sort: null, dir: null, top: null, q: null },
          { replace: false }); }}/>
    </div>
    <${ViewBar} m=${m} ev=${ev} kf=${kf} fields=${state.data ? state.data.map.valueFields
      : []} go=${go}/>
    <${Loader} state=${state} what="entries">${(data) => html`
      <${Pager} offset=${offset} limit=${limit} go=${go} count=${ev.q ? null
        : ev.top === null ? data.map.entriesCount : Math.min(ev.top, data.map.entriesCount)}
        shown=${data.map.entries.length} total=${data.map.entriesCount}/>
      ${notice && !data.map.raw.some((r) => r.key === notice.rawKey) ? html`<div class="ok"
        role="status" data-testid="entries-notice">${notice.message}</div>` : null}
      <${EntryTable} m=${m} data=${data.map} kf=${kf} vf=${vf} view=${view}
        offset=${offset} highlight=${highlight} server=${server} changed=${changed}
        notice=${notice} ev=${ev} go=${go}/>
      ${server.allowWrites ? html`<${CreateForm} m=${m} server=${server} kf=${kf} vf=${vf}
        fields=${structFields(data.map.valueFields)} changed=${changed}/>` : null}`}
    </${Loader}>`;
}

/** Sort (key order, value, per-CPU sum, a field), direction, top N and key search. */
function ViewBar({ m, ev, fields, go }) {
  const [q, setQ] = useState(ev.q || "");
  const [top, setTop] = useState(ev.top === null ? "" : String(ev.top));
  const sorts = [["key", "key order"]];
  if (m.valueSize <= 8) sorts.push([m.isPerCPU ? "sum" : "value", m.isPerCPU ? "per-CPU sum"
    : "value"]);
  for (const f of fields || []) {
    if (f.path) sorts.push([f.path, m.isPerCPU ? `sum of ${f.path}` : f.path]);
  }
  const desc = ev.desc === null ? ev.sort !== "key" : ev.desc;
  return html`<form class="toolbar entries-view" data-testid="entries-view"
    onSubmit=${(e) => { e.preventDefault(); go({ q: q || null, top: top || null,
      offset: 0 }); }}>
    <label>sort by <select aria-label="sort by" value=${ev.sort}
      onChange=${(e) => go({ sort: e.currentTarget.value === "key" ? null
        : e.currentTarget.value, dir: null, offset: 0 })}>
      ${sorts.map(([v, label]) => html`<option value=${v}>${label}</option>`)}
      ${sorts.some(([v]) => v === ev.sort) ? null
        : html`<option value=${ev.sort}>${ev.sort}</option>`}</select></label>
    <label>order <select aria-label="order" value=${desc ? "desc" : "asc"}
      onChange=${(e) => go({ dir: e.currentTarget.value, offset: 0 })}>
      <option value="desc">greatest first</option>
      <option value="asc">smallest first</option></select></label>
    <label>top <input type="number" min="1" aria-label="top N" placeholder="all"
      value=${top} class="narrow" onInput=${(e) => setTop(e.currentTarget.value)}
      onChange=${(e) => go({ top: e.currentTarget.value || null, offset: 0 })}/></label>
    <input type="search" aria-label="search keys" placeholder="keys containing…" value=${q}
      onInput=${(e) => setQ(e.currentTarget.value)}/>
    <button type="submit">Search</button>
    ${ev.q || ev.top !== null || ev.sort !== "key" ? html`<button type="button"
      onClick=${() => { setQ(""); setTop(""); go({ sort: null, dir: null, top: null, q: null,
        offset: 0 }); }}>Clear</button>` : null}
  </form>`;
}

function Pager({ offset, limit, count, go, shown, total }) {
  if (count === null) {  // a key search: how many match is known page by page
    return html`<div class="pager" data-testid="pager">
      <button disabled=${offset === 0} onClick=${() => go({ offset: 0 })}>« first</button>
      <button disabled=${offset === 0}
        onClick=${() => go({ offset: Math.max(0, offset - limit) })}>‹ previous</button>
      <span>matching entries ${shown === 0 ? 0 : offset + 1}–${offset + shown} (of${" "}
        <b data-testid="entries-count">${num(total)}</b> in the map)</span>
      <button disabled=${shown < limit}
        onClick=${() => go({ offset: offset + limit })}>next ›</button>
    </div>`;
  }
  const pages = Math.max(1, Math.ceil(count / limit));
  const page = Math.floor(offset / limit) + 1;
  return html`<div class="pager" data-testid="pager">
    <button disabled=${offset === 0} onClick=${() => go({ offset: 0 })}>« first</button>
    <button disabled=${offset === 0}
      onClick=${() => go({ offset: Math.max(0, offset - limit) })}>‹ previous</button>
    <span>entries ${count === 0 ? 0 : offset + 1}–${Math.min(count, offset + limit)} of${" "}
      <b data-testid="entries-count">${num(count)}</b> (page ${page} of ${pages})</span>
    <button disabled=${offset + limit >= count}
      onClick=${() => go({ offset: offset + limit })}>next ›</button>
    <button disabled=${offset + limit >= count}
      onClick=${() => go({ offset: (pages - 1) * limit })}>last »</button>
  </div>`;
}

function JumpToKey({ m, kf, onFound }) {
  const [text, setText] = useState("");
  const [result, setResult] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setResult(null);
    try {
      const data = await gql(`query FindKey($id: Int!, $key: String!, $kf: MapEntryFormat) {
        map(id: $id) { entryPosition(key: $key, keyFormat: $kf) } }`,
      { id: m.id, key: text, kf });
      const pos = data.map.entryPosition;
      if (pos === null) setResult({ error: `key ${text} (${kf}) is not in map ${m.id}` });
      else { setResult(null); onFound(pos); }
    } catch (error) {
      setResult({ error: error.message });
    }
  };
  return html`<form class="jump" onSubmit=${submit} data-testid="jump">
    <input type="search" aria-label="jump to key" placeholder=${`jump to key (${kf})`}
      value=${text} onInput=${(e) => setText(e.currentTarget.value)} required/>
    <button type="submit">Go</button>
    ${result && result.error ? html`<span class="error-text" role="alert">${result.error}</span>`
      : null}
  </form>`;
}

function parseBtf(text) {
  try { return JSON.parse(text); } catch (_) { return text; }
}

/** A BTF-decoded value as a nested list (structs, arrays) with scalars at the leaves. */
function Tree({ value }) {
  if (value === null || typeof value !== "object") return html`<span>${String(value)}</span>`;
  const items = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v])
    : Object.entries(value);
  return html`<ul class="tree">${items.map(([k, v]) => html`<li><span class="tree-key">${k}
    </span>: <${Tree} value=${v}/></li>`)}</ul>`;
}

function scalarOrJson(v) {
  return v !== null && typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** Columns of the table: key, then value fields (BTF structs), CPUs (per-CPU) or one value. */
function valueColumns(data, vf, view) {
  const perCpu = data.isPerCPU;
  const ncpu = perCpu ? Math.max(0, ...data.entries.map((e) => e.cpuValues.length)) : 0;
  if (perCpu) {
    const cpus = Array.from({ length: ncpu }, (_, cpu) => ({ label: `CPU ${cpu}`, cpu,
      get: (e) => e.cpuValues[cpu] }));
    const summed = data.entries.some((e) => e.total !== null);
    return summed ? [...cpus, { label: "total", total: true, sort: "sum",
      get: (e) => e.total ?? "" }] : cpus;
  }
  if (vf === "BTF" && view === "columns") {
    const parsed = data.entries.map((e) => parseBtf(e.value));
    if (parsed.length && parsed.every((v) => v && typeof v === "object" && !Array.isArray(v))) {
      const fields = [...new Set(parsed.flatMap((v) => Object.keys(v)))];
      const numeric = new Set((data.valueFields || []).map((v) => v.path));
      return fields.map((f) => ({ label: f, field: f, sort: numeric.has(f) ? f : null,
        get: (e) => { const v = parseBtf(e.value); return v[f] === undefined ? "" :
          scalarOrJson(v[f]); } }));
    }
  }
  return [{ label: "value", sort: "value", get: (e) => e.value }];
}

/** A column's head: a button that sorts by it (greatest first, then smallest first). */
function ColumnHead({ c, ev, go }) {
  if (!c.sort) return html`<th>${c.label}</th>`;
  const active = ev.sort === c.sort;
  const desc = ev.desc === null ? true : ev.desc;
  const mark = active ? (desc ? " ▼" : " ▲") : "";
  return html`<th aria-sort=${active ? (desc ? "descending" : "ascending") : "none"}>
    <button class="linklike" title=${`sort by ${c.label}`} onClick=${() => go({
      sort: c.sort, dir: active && desc ? "asc" : "desc", offset: 0 })}>${c.label}${mark}
    </button></th>`;
}

function EntryTable({ m, data, kf, vf, view, offset, highlight, server, changed, notice, ev,
  go }) {
  const columns = valueColumns(data, vf, view);
  const shown = (text) => (vf === "BTF" && view === "tree" ? html`<${Tree}
    value=${parseBtf(text)}/>` : text);
  if (data.entries.length === 0) return html`<p class="muted" data-testid="no-entries">no
    entries</p>`;
  return html`<table class="grid entries" data-testid="entries">
    <thead><tr><th>#</th><th>key <span class="muted">(${kf})</span></th>
      ${columns.map((c) => html`<${ColumnHead} c=${c} ev=${ev} go=${go}/>`)}<th></th></tr>
      </thead>
    <tbody>${data.entries.map((e, i) => html`<${EntryRow} key=${data.raw[i].key}
      index=${offset + i} entry=${e} raw=${data.raw[i]} m=${m} kf=${kf} vf=${vf}
      columns=${columns} shown=${shown} highlight=${highlight === offset + i}
      fields=${vf === "BTF" ? structFields(data.valueFields) : []}
      server=${server} changed=${changed}
      notice=${notice && notice.rawKey === data.raw[i].key ? notice.message : null}/>`)}
    </tbody></table>`;
}

function EntryRow({ index, entry, raw, m, kf, vf, columns, shown, highlight, server, changed,
  notice, fields }) {
  const [editing, setEditing] = useState(false);
  const [fieldDrafts, setFieldDrafts] = useState([]);  // per slot (CPU), per field: text
  const [confirming, setConfirming] = useState(false);
  const [drafts, setDrafts] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const readOnly = !server.allowWrites;
  const wkf = writable(kf);
  const wvf = writable(vf);
  const keyText = raw.key;  // in wkf: the raw alias was asked in that format
  const current = m.isPerCPU ? (vf === "BTF" ? raw.cpuValues : entry.cpuValues)
    : [vf === "BTF" ? raw.value : entry.value];
  const byFields = fields.length > 0;  // a BTF struct value: edited field by field
  const slotLabels = m.isPerCPU ? entry.cpuValues.map((_, cpu) => `CPU ${cpu}`) : ["value"];
  const fieldTexts = () => (m.isPerCPU ? entry.cpuValues : [entry.value]).map((v) =>
    fields.map((f) => fieldText(parseBtf(v), f.path)));
  const startEdit = () => {
    setDrafts(current);
    if (byFields) setFieldDrafts(fieldTexts());
    setError(null);
    setEditing(true);
  };
  const saveFields = () => run(async () => {
    const before = fieldTexts();
    for (const [slot, texts] of fieldDrafts.entries()) {
      const changedFields = texts.map((t, i) => t !== before[slot][i]);
      if (!changedFields.some(Boolean)) continue;
      const problems = fields.map((f, i) => (changedFields[i] ? fieldProblem(f, texts[i])
        : null)).filter(Boolean);
      if (problems.length) throw new Error(problems.join("; "));
      const data = await gql(`mutation UpdateMapValue($mapId: Int!, $key: String!, $cpu: Int,
        $value: String!, $keyFormat: MapEntryFormat!, $valueFormat: MapEntryFormat!) {
        updateMapValue(mapId: $mapId, key: $key, cpu: $cpu, value: $value,
          keyFormat: $keyFormat, valueFormat: $valueFormat) { error } }`,
      { mapId: m.id, key: keyText, cpu: m.isPerCPU ? slot : null,
        value: fieldsJson(fields, texts, changedFields), keyFormat: wkf, valueFormat: "BTF" });
      if (data.updateMapValue.error) throw new Error(data.updateMapValue.error);
    }
  }, "saved; this row was read again from the kernel");
  const run = async (work, message) => {
    setBusy(true);
    setError(null);
    try {
      await work();
      setEditing(false);
      setConfirming(false);
      await changed(message, raw.key);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  const save = () => run(async () => {
    const targets = m.isPerCPU ? drafts.map((d, cpu) => [d, cpu]).filter(([d, cpu]) =>
      d !== current[cpu]) : [[drafts[0], null]];
    for (const [value, cpu] of targets) {
      const data = await gql(`mutation UpdateMapValue($mapId: Int!, $key: String!, $cpu: Int,
        $value: String!, $keyFormat: MapEntryFormat!, $valueFormat: MapEntryFormat!) {
        updateMapValue(mapId: $mapId, key: $key, cpu: $cpu, value: $value,
          keyFormat: $keyFormat, valueFormat: $valueFormat) { error } }`,
      { mapId: m.id, key: keyText, cpu, value, keyFormat: wkf, valueFormat: wvf });
      if (data.updateMapValue.error) throw new Error(data.updateMapValue.error);
    }
  }, "saved; this row was read again from the kernel");
  const remove = () => run(async () => {
    const data = await gql(`mutation DeleteMapValues($mapId: Int!, $keys: [String!]!,
      $keyFormat: MapEntryFormat!) { deleteMapValues(mapId: $mapId, keys: $keys,
      keyFormat: $keyFormat) { error } }`, { mapId: m.id, keys: [keyText], keyFormat: wkf });
    if (data.deleteMapValues.error) throw new Error(data.deleteMapValues.error);
  }, `deleted key ${keyText} (${wkf})`);
  const cells = columns.map((c, i) => {
    if (editing && !byFields && !c.total && (m.isPerCPU || i === 0)) {
      const slot = m.isPerCPU ? c.cpu : 0;
      return html`<td><input class="mono" aria-label=${`value ${c.label} (${wvf})`}
        value=${drafts[slot]} onInput=${(e) => { const next = [...drafts];
        next[slot] = e.currentTarget.value; setDrafts(next); }}/></td>`;
    }
    if (editing && !byFields) return html`<td></td>`;
    return html`<td class="mono">${shown(c.get(entry))}</td>`;
  });
  const title = readOnly ? server.writesDisabledReason : "";
  const editor = editing && byFields ? html`<tr class="field-edit" data-testid="field-edit">
    <td></td><td colspan=${columns.length + 2}>${fieldDrafts.map((texts, slot) => html`
      <${FieldInputs} fields=${fields} texts=${texts} label=${slotLabels[slot]}
        onChange=${(i, text) => { const next = fieldDrafts.map((t) => [...t]);
          next[slot][i] = text; setFieldDrafts(next); }}/>`)}</td></tr>` : null;
  return html`<tr data-key=${raw.key} class=${highlight ? "highlight" : ""}>
    <td class="num muted">${index + 1}</td>
    <td class="mono">${entry.key}</td>
    ${cells}
    <td class="actions">
      ${editing ? html`
        <button onClick=${byFields ? saveFields : save} disabled=${busy}>Save</button>
        <button onClick=${() => setEditing(false)} disabled=${busy}>Cancel</button>
        ${vf === "BTF" && !byFields ? html`<span class="muted">(edit as HEX)</span>` : null}`
      : confirming ? html`
        <button class="danger" onClick=${remove} disabled=${busy}>Delete for real</button>
        <button onClick=${() => setConfirming(false)}>Cancel</button>`
      : html`
        <button onClick=${startEdit} disabled=${readOnly} title=${title}>Edit</button>
        <button onClick=${() => setConfirming(true)} disabled=${readOnly || m.type.includes(
          "Array")} title=${title || (m.type.includes("Array")
          ? "entries of array maps cannot be deleted" : "")}>Delete</button>`}
      ${error ? html`<div class="error" role="alert">${error}</div>` : null}
      ${notice ? html`<div class="ok" role="status">${notice}</div>` : null}
    </td>
  </tr>${editor}`;
}

function CreateForm({ m, server, kf, vf, fields, changed }) {
  const wkf = writable(kf);
  const slots = m.isPerCPU ? server.possibleCpus : 1;
  const [key, setKey] = useState("");
  const [values, setValues] = useState(Array(slots).fill(""));
  // A BTF struct value is given field by field (unset fields are zero), or as hex.
  const [asHex, setAsHex] = useState(false);
  const byFields = vf === "BTF" && fields.length > 0 && !asHex;
  const wvf = byFields ? "BTF" : writable(vf);
  const blank = () => Array.from({ length: slots }, () => fields.map(() => ""));
  const [fieldValues, setFieldValues] = useState(blank);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const plainValues = values;
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      let values = plainValues;
      if (byFields) {
        const given = fieldValues.map((texts) => texts.map((t) => t.trim() !== ""));
        const problems = fieldValues.flatMap((texts, s) => fields.map((f, i) =>
          (given[s][i] ? fieldProblem(f, texts[i]) : null))).filter(Boolean);
        if (problems.length) throw new Error(problems.join("; "));
        values = fieldValues.map((texts, s) => fieldsJson(fields, texts, given[s]));
      }
      const data = await gql(`mutation CreateMapValue($mapId: Int!, $key: String!,
        $values: [String!]!, $keyFormat: MapEntryFormat!, $valueFormat: MapEntryFormat!) {
        createMapValue(mapId: $mapId, key: $key, values: $values, keyFormat: $keyFormat,
          valueFormat: $valueFormat) { error } }`,
      { mapId: m.id, key, values, keyFormat: wkf, valueFormat: wvf });
      if (data.createMapValue.error) throw new Error(data.createMapValue.error);
      await changed(`created key ${key} (${wkf}); the page was read again from the kernel`,
        null);
      setKey("");
      setValues(Array(slots).fill(""));
      setFieldValues(blank());
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  if (m.type.includes("Array")) return null;  // every index exists: edit, do not create
  return html`<form class="create" onSubmit=${submit} data-testid="create-form">
    <h3>Add an entry</h3>
    <label>key (${wkf}) <input class="mono" aria-label="new key" value=${key} required
      onInput=${(e) => setKey(e.currentTarget.value)}/></label>
    ${vf === "BTF" && fields.length ? html`<label><input type="checkbox" checked=${asHex}
      aria-label="value as hex" onChange=${(e) => setAsHex(e.currentTarget.checked)}/>
      value as hex</label>` : null}
    ${byFields ? fieldValues.map((texts, s) => html`<${FieldInputs} fields=${fields}
      texts=${texts} label=${slots > 1 ? `new CPU ${s}` : "new value"}
      onChange=${(i, text) => { const next = fieldValues.map((t) => [...t]);
        next[s][i] = text; setFieldValues(next); }}/>`)
    : values.map((v, i) => html`<label>${slots > 1 ? `CPU ${i}` : "value"} (${wvf})
      <input class="mono" aria-label=${slots > 1 ? `new value CPU ${i}` : "new value"}
        value=${v} onInput=${(e) => { const next = [...values];
        next[i] = e.currentTarget.value; setValues(next); }}/></label>`)}
    <button type="submit" disabled=${busy}>Add</button>
    ${error ? html`<div class="error" role="alert">${error}</div>` : null}
  </form>`;
}
