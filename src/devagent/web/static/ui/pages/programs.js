// /ui/programs : every loaded program, sortable and filterable (both kept in the URL), with
// live events/s and CPU % and their sparklines over the last two minutes. Only the rows in
// view are rendered, and only their histories are asked for.
import { html, useMemo, useState } from "../lib.js";
import { useQuery } from "../api.js";
import { PROGRAMS_LIST } from "../queries.js";
import {
  AgentToggle, ErrorBox, FilterBar, Loader, Link, Sparkline, VirtualTable, filterRows, sortRows,
  useShowAgent, useTableState, withoutAgentOwn,
} from "../components.js";
import { num, pct, rate } from "../format.js";
import { StatsNotice } from "../stats.js";

const LIST = PROGRAMS_LIST;
const STATS = `query ProgramSparklines($ids: [Int!]) {
  programStats(ids: $ids, seconds: 120) { id points { eventsPerSecond cpuPercent } }
}`;

function columns(history) {
  const spark = (id, field) => {
    const points = history.get(id);
    return points ? html`<${Sparkline} values=${points.map((p) => p[field])}/>` : null;
  };
  return [
    { key: "id", label: "ID", sort: (p) => p.id, cls: "num narrow",
      cell: (p) => html`<${Link} to=${`programs/${p.id}`}>${p.id}</${Link}>` },
    { key: "name", label: "Name", sort: (p) => p.name || "", cls: "wide",
      cell: (p) => p.error ? html`<span class="error-text">${p.error}</span>`
        : html`<${Link} to=${`programs/${p.id}`}>${p.name || "(no name)"}</${Link}>` },
    { key: "type", label: "Type", sort: (p) => p.type, cls: "type-col", cell: (p) => p.type },
    { key: "attach", label: "Attach", sort: (p) => p.attachPoint, cls: "wide",
      cell: (p) => p.attachPoint || "" },
    { key: "runCount", label: "Runs", sort: (p) => p.runCount, cls: "num",
      cell: (p) => num(p.runCount) },
    { key: "eps", label: "Events/s", sort: (p) => p.eventsPerSecond, cls: "num spark-col",
      cell: (p) => html`${spark(p.id, "eventsPerSecond")}<span>${rate(p.eventsPerSecond)}
        </span>` },
    { key: "cpu", label: "CPU %", sort: (p) => p.cpuPercent, cls: "num spark-col",
      cell: (p) => html`${spark(p.id, "cpuPercent")}<span>${pct(p.cpuPercent)}</span>` },
    { key: "avg", label: "Avg ns", sort: (p) => p.avgRunTimeNs, cls: "num",
      cell: (p) => num(p.avgRunTimeNs) },
    { key: "tag", label: "Tag", sort: (p) => p.tag, cls: "mono tag-col", cell: (p) => p.tag || "" },
  ];
}

export function Programs() {
  const { filter, sortKey, desc, onSort } = useTableState("cpu", true);
  const [showAgent, setShowAgent] = useShowAgent();
  const list = useQuery(LIST, {}, [], 2000);
  const all = list.data ? list.data.programs : null;
  const listed = all ? withoutAgentOwn(all, showAgent) : null;
  const [visible, setVisible] = useState([]);
  const stats = useQuery(visible.length ? STATS : null, { ids: visible }, [visible.join(",")],
    2000);
  const history = useMemo(() => new Map((stats.data ? stats.data.programStats : [])
    .map((s) => [s.id, s.points])), [stats.data]);
  const cols = columns(history);
  const rows = useMemo(() => {
    if (!listed) return [];
    const shown = filterRows(listed, cols, filter);
    return sortRows(shown, cols.find((c) => c.key === sortKey), desc);
  }, [list.data, filter, sortKey, desc, showAgent]);
  return html`<section>
    <h1>Programs</h1>
    <${FilterBar} what="programs" placeholder="filter: id, name, type, attach point, tag…"
      filter=${filter} shown=${rows.length} total=${listed ? listed.length : null}>
      <${AgentToggle} show=${showAgent} onChange=${setShowAgent} rows=${all}/></${FilterBar}>
    <${StatsNotice}/>
    <${ErrorBox} error=${stats.error} what="sparklines"/>
    <${Loader} state=${list} what="programs">${() => html`
      <${VirtualTable} testid="programs" rows=${rows} columns=${cols} rowKey=${(p) => p.id}
        sortKey=${sortKey} sortDesc=${desc} onSort=${onSort} onVisible=${setVisible}/>`}
    </${Loader}>
  </section>`;
}
