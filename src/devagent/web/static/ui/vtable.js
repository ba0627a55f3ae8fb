// The table of the long lists (programs, maps): thousands of rows, of which only those in
// view are in the DOM (5000 programs render as ~50 rows). In a wide window the page itself
// scrolls, so every row is reachable with the page's scrollbar, the wheel or a touch, and
// the header sticks to the top of the window while the rows pass under it. In a window
// narrower than the table (a phone) the columns keep their widths and the table is a box
// of its own (app.css .vt), scrolling both ways with visible scrollbars, instead of
// widening the page; its header sticks in the box.
import { html, useEffect, useRef, useState } from "./lib.js";

const OVERSCAN = 8;

/** [first row index, row count] of the rows of `body` in view (with some more each side):
 * in the window, and in the table's own box when it scrolls (`body.parentNode.parentNode`,
 * the .vt). Measured again on every scroll (of the page or the box: captured), resize and
 * change of the row count. */
function useRowsInView(body, rowHeight, rowCount) {
  const [range, setRange] = useState([0, Math.ceil(window.innerHeight / rowHeight) + OVERSCAN]);
  const measure = useRef(null);
  measure.current = () => {
    if (!body.current) return;
    const box = body.current.parentNode.parentNode.getBoundingClientRect();
    const top = Math.max(0, Math.max(0, box.top) - body.current.getBoundingClientRect().top);
    const first = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
    const count = Math.ceil(window.innerHeight / rowHeight) + 2 * OVERSCAN;
    setRange((old) => (old[0] === first && old[1] === count ? old : [first, count]));
  };
  useEffect(() => {
    let frame = 0;
    const later = () => {
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; measure.current(); });
    };
    window.addEventListener("scroll", later, { passive: true, capture: true });
    window.addEventListener("resize", later);
    return () => {
      window.removeEventListener("scroll", later, { capture: true });
      window.removeEventListener("resize", later);
      cancelAnimationFrame(frame);
    };
  }, []);
  useEffect(() => measure.current(), [rowCount]);
  return range;
}

/**
 * A sortable table of many rows that renders only the rows in view. `columns`: {key, label,
 * sort(row) -> comparable, cell(row) -> content, cls}. Sorting and the filter are owned by
 * the caller (they live in the URL). `minWidth`: below it the table scrolls sideways.
 */
export function VirtualTable({ rows, columns, rowKey, sortKey, sortDesc, onSort, rowHeight = 28,
  onVisible, testid, minWidth = 1160 }) {
  const body = useRef(null);
  const [first, count] = useRowsInView(body, rowHeight, rows.length);
  const shown = rows.slice(first, first + count);
  const visibleKeys = shown.map(rowKey).join(",");
  useEffect(() => { if (onVisible) onVisible(shown.map(rowKey)); }, [visibleKeys]);
  const head = html`<div class="vt-row vt-head" role="row" aria-rowindex="1">${columns.map((c) => html`
    <div class=${`vt-cell ${c.cls || ""}`} role="columnheader"
      aria-sort=${sortKey === c.key ? (sortDesc ? "descending" : "ascending") : "none"}>
      ${c.sort ? html`<button class="sort" onClick=${() => onSort(c.key)}>${c.label}${
        sortKey === c.key ? (sortDesc ? " ▼" : " ▲") : ""}</button>` : c.label}
    </div>`)}</div>`;
  // aria-rowcount and aria-rowindex count the header row: the rows not in the DOM are known.
  return html`<div class="vt" role="table" data-testid=${testid}
      aria-rowcount=${rows.length + 1}>
    <div class="vt-inner" style=${`min-width: ${minWidth}px`}>
      ${head}
      <div class="vt-body" ref=${body} style=${`height: ${rows.length * rowHeight}px`}>
        ${shown.map((row, i) => html`<div class="vt-row" role="row" key=${rowKey(row)}
            data-key=${rowKey(row)} aria-rowindex=${first + i + 2}
            style=${`top: ${(first + i) * rowHeight}px; height: ${rowHeight}px`}>
          ${columns.map((c) => html`<div class=${`vt-cell ${c.cls || ""}`} role="cell"
            data-col=${c.key}>${c.cell(row)}</div>`)}
        </div>`)}
      </div>
    </div>
  </div>`;
}
