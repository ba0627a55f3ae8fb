// Numbers as people read them; "—" for what the kernel did not give.
export const DASH = "—";

export function num(value, digits = 0) {
  if (value === null || value === undefined) return DASH;
  return value.toLocaleString("en-US", { maximumFractionDigits: digits,
    minimumFractionDigits: digits });
}

export function rate(value) {
  if (value === null || value === undefined) return DASH;
  return num(value, value < 10 ? 2 : 1);
}

export function pct(value) {
  return value === null || value === undefined ? DASH : `${value.toFixed(2)}%`;
}

export function bytes(value) {
  if (value === null || value === undefined) return DASH;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = value;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Seconds as Go prints durations, like the CLI: 0s, 815ns, 21.86µs, 3.2ms, 1.5s. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  const ns = Math.round(seconds * 1e9);
  if (ns === 0) return "0s";
  const trim = (x) => String(Number(x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2)));
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${trim(ns / 1e3)}µs`;
  if (ns < 1e9) return `${trim(ns / 1e6)}ms`;
  return `${trim(ns / 1e9)}s`;
}

export function yesNo(value) {
  if (value === null || value === undefined) return DASH;
  return value ? "yes" : "no";
}
