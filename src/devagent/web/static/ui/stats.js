// Which run-statistics mode is in force and how to change it, on every page that shows rates:
// without statistics every rate is "—", and the reader should not have to guess why. The
// server takes its BPF_ENABLE_STATS fd while someone watches (the default), always
// (--enable-stats) or never (--no-enable-stats); asking for `host` counts as watching.
import { html } from "./lib.js";
import { useQuery } from "./api.js";

export const STATS_FIELDS = "statsMode statsDescription statsPolicy statsHeld statsPolicyDescription";
const QUERY = `query StatsPolicy { host { ${STATS_FIELDS} } }`;

const POLICY_WORDS = {
  ON_DEMAND: "on demand",
  ALWAYS: "always on",
  NEVER: "never",
};

// The mode as a badge and the policy in words; `host` carries STATS_FIELDS.
export function StatsMode({ host }) {
  const off = host.statsMode === "OFF";
  return html`<span data-testid="stats-mode">
    <span class=${off ? "badge warn" : "badge ok"}>${host.statsMode}</span>
    <span class="muted"> ${host.statsDescription}</span>
    <br/><span class="badge agent" data-testid="stats-policy">${POLICY_WORDS[host.statsPolicy]
      || host.statsPolicy}</span>
    <span class="muted" data-testid="stats-policy-text"> ${host.statsPolicyDescription}</span>
  </span>`;
}

// A one-line notice for pages with rates (asks for the host itself, every 5 s): says when
// rates are unknown because statistics are off, and always which policy is in force.
export function StatsNotice() {
  const state = useQuery(QUERY, {}, [], 5000);
  if (!state.data) return null;
  const host = state.data.host;
  const off = host.statsMode === "OFF";
  return html`<p class=${off ? "readonly" : "muted"} data-testid="stats-notice">
    ${off ? html`<strong>Run statistics are off: rates show —. </strong>` : ""}
    Run statistics: <strong>${POLICY_WORDS[host.statsPolicy] || host.statsPolicy}</strong>
    (${host.statsDescription}). ${host.statsPolicyDescription}.
  </p>`;
}
