// A time-series chart (uPlot) of one series; redrawn in place when the data changes.
import { html, useEffect, useLazyModule, useRef } from "./lib.js";
import { ErrorBox } from "./components.js";

export function TimeChart({ title, times, values, unit, testid }) {
  const box = useRef(null);
  const plot = useRef(null);
  const [uPlot, error] = useLazyModule("../vendor/uplot/uPlot.esm.js");  // 142 KiB
  useEffect(() => {
    if (!uPlot) return undefined;
    const width = Math.max(300, (box.current.clientWidth || 600) - 8);
    plot.current = new uPlot({
      title, width, height: 180,
      scales: { x: { time: true } },
      axes: [{}, { size: 60, values: (_, ticks) => ticks.map((t) => `${t}${unit}`) }],
      series: [{}, { label: title, stroke: "#2563eb", width: 1.5, fill: "rgba(37,99,235,0.08)",
        spanGaps: false }],
    }, [times, values], box.current);
    return () => { plot.current.destroy(); plot.current = null; };
  }, [uPlot]);
  useEffect(() => { if (plot.current) plot.current.setData([times, values]); }, [times, values]);
  if (error) return html`<${ErrorBox} error=${error} what="loading uPlot"/>`;
  return html`<div class="chart" ref=${box} data-testid=${testid}
    data-points=${values.filter((v) => v !== null).length}></div>`;
}
