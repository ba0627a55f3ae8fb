// /ui/maps : every map with how full it is (entries / max entries as a bar) and the memory the
// kernel accounts to it; sortable and filterable (kept in the URL), rows rendered in view only.
// The list comes first and the fill numbers (slower to count) join it when they arrive.
import { html, useMemo } from "../lib.js";
import { useQuery } from "../api.js";
import { MAPS_FILL, MAPS_LIST } from "../queries.js";
import {
  AgentToggle, ErrorBox, FillBar, FilterBar, Link, Loader, VirtualTable, filterRows, sortRows,
  useShowAgent, useTableState, withoutAgentOwn,
} from "../components.js";
import { bytes, num } from "../format.js";


const COLUMNS = [
  { key: "id", label: "ID", sort: (m) => m.id, cls: "num narrow",
    cell: (m) => html`<${Link} to=${`maps/${m.id}`}>${m.id}</${Link}>` },
  { key: "name", label: "Name", sort: (m) => m.name || "", cls: "wide",
    cell: (m) => m.error ? html`<span class="error-text">${m.error}</span>`
      : html`<${Link} to=${`maps/${m.id}`}>${m.name || "(no name)"}</${Link}>` },
  { key: "type", label: "Type", sort: (m) => m.type, cell: (m) => m.type },
  { key: "key", label: "Key B", sort: (m) => m.keySize, cls: "num narrow",
    cell: (m) => num(m.keySize) },
  { key: "value", label: "Value B", sort: (m) => m.valueSize, cls: "num narrow",
    cell: (m) => num(m.valueSize) },
  { key: "entries", label: "Entries", sort: (m) => m.usedEntries, cls: "num",
    cell: (m) => html`${num(m.usedEntries)} / ${num(m.maxEntries)}` },
  { key: "fill", label: "Fill", sort: (m) => m.fillRatio, cls: "fill-col",
    cell: (m) => html`<${FillBar} ratio=${m.fillRatio} used=${m.usedEntries}
      max=${m.maxEntries}/>` },
  { key: "memlock", label: "Memlock", sort: (m) => m.memlockBytes, cls: "num",
    cell: (m) => bytes(m.memlockBytes) },
  { key: "flags", label: "Flags", sort: (m) => m.flagNames.join(" "),
    cell: (m) => m.flagNames.join(" ") },
  { key: "pinned", label: "Pinned", sort: (m) => (m.isPinned ? "pinned" : ""), cls: "narrow",
    cell: (m) => (m.isPinned ? "yes" : "") },
];

export function Maps() {
  const { filter, sortKey, desc, onSort } = useTableState("id", false);
  const [showAgent, setShowAgent] = useShowAgent();
  const list = useQuery(MAPS_LIST, {}, [], 5000);
  const all = list.data ? list.data.maps : null;
  const listed = all ? withoutAgentOwn(all, showAgent) : null;
  const fill = useQuery(MAPS_FILL, {}, [], 5000);
  const rows = useMemo(() => {
    if (!listed) return [];
    const numbers = new Map((fill.data ? fill.data.maps : []).map((m) => [m.id, m]));
    const merged = listed.map((m) => ({ usedEntries: null, fillRatio: null,
      memlockBytes: null, ...m, ...numbers.get(m.id) }));
    const shown = filterRows(merged, COLUMNS, filter);
    return sortRows(shown, COLUMNS.find((c) => c.key === sortKey), desc);
  }, [list.data, fill.data, filter, sortKey, desc, showAgent]);
  return html`<section>
    <h1>Maps</h1>
    <${FilterBar} what="maps" placeholder="filter: id, name, type, flags…" filter=${filter}
      shown=${rows.length} total=${listed ? listed.length : null}>
      <${AgentToggle} show=${showAgent} onChange=${setShowAgent} rows=${all}/></${FilterBar}>
    <${ErrorBox} error=${fill.error} what="fill numbers"/>
    <${Loader} state=${list} what="maps">${() => html`
      <${VirtualTable} testid="maps" rows=${rows} columns=${COLUMNS} rowKey=${(m) => m.id}
        sortKey=${sortKey} sortDesc=${desc} onSort=${onSort}/>`}</${Loader}>
  </section>`;
}
