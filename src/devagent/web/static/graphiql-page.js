// GraphiQL at `/`: queries go to `<path-prefix>query`, with the bearer token from the bar
// (kept in sessionStorage for this tab, shared with the web UI). The example tabs are the
// operations the explorer web UI sends (CONTRACT.md section 3), plus the live numbers.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("phydev-config").textContent);
  // The one <style> GraphiQL adds (its dialogs' scroll lock) carries this nonce, which the
  // page's CSP allows (see web/pages.py).
  window.__webpack_nonce__ = config.styleNonce;
  const TOKEN_KEY = "phydev.token";
  const tokenInput = document.getElementById("phydev-token");
  document.getElementById("phydev-endpoint").textContent = config.endpoint;
  tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || "";
  // A new token: GraphiQL is mounted again (its tabs are kept in localStorage) so that it
  // asks for the schema again, now with the token (the first try may have been refused).
  let remount = 0;
  tokenInput.addEventListener("input", () => {
    if (tokenInput.value) sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
    else sessionStorage.removeItem(TOKEN_KEY);
    clearTimeout(remount);
    remount = setTimeout(mount, 800);
  });
  tokenInput.addEventListener("change", () => { clearTimeout(remount); mount(); });  // Enter
  document.getElementById("phydev-bar").addEventListener("submit", (e) => e.preventDefault());

  const EXAMPLES = [
    ["query Navigation {\n  programs { id error name type tag runTime runCount btfId }\n" +
     "  maps { id error name type flags isPinned keySize valueSize maxEntries }\n}\n", null],
    ["query GetProgram($programId: Int!) {\n  program(id: $programId) {\n" +
     "    id name type tag runTime runCount btfId\n    maps { id name type }\n    error\n" +
     "    tasks { pid fd type name probeOffset probeAddr }\n  }\n}\n", { programId: 1 }],
    ["query GetMap($mapId: Int!) {\n  map(id: $mapId) {\n" +
     "    id error name type flags isPinned pins keySize valueSize maxEntries entriesCount\n" +
     "    isPerCPU isLookupSupported\n    programs { id name type }\n  }\n}\n", { mapId: 1 }],
    ["query GetMapEntries($mapId: Int!, $offset: Int, $limit: Int, " +
     "$keyFormat: MapEntryFormat, $valueFormat: MapEntryFormat) {\n  map(id: $mapId) {\n" +
     "    isPerCPU\n    entries(offset: $offset, limit: $limit, keyFormat: $keyFormat, " +
     "valueFormat: $valueFormat) { key value cpuValues }\n    entriesCount\n  }\n}\n",
     { mapId: 1, offset: 0, limit: 32, keyFormat: "HEX", valueFormat: "HEX" }],
    ["query ConnectedGraph($id: Int!, $type: IdType!) {\n" +
     "  connectedGraph(from: $id, fromType: $type) {\n    programs { id type name maps { id } }\n" +
     "    maps { id type name }\n  }\n}\n", { id: 1, type: "PROGRAM" }],
    ["mutation UpdateMapValue($mapId: Int!, $key: String!, $cpu: Int, $value: String!, " +
     "$keyFormat: MapEntryFormat!, $valueFormat: MapEntryFormat!) {\n" +
     "  updateMapValue(mapId: $mapId, key: $key, cpu: $cpu, value: $value, " +
     "keyFormat: $keyFormat, valueFormat: $valueFormat) { error }\n}\n",
     { mapId: 1, key: "00000000", value: "0", keyFormat: "HEX", valueFormat: "NUMBER" }],
    ["query Live {\n  host { hostname kernelRelease cpuCount statsMode programCount mapCount " +
     "cpuPercent eventsPerSecond }\n  programs { id name eventsPerSecond cpuPercent " +
     "avgRunTimeNs attachPoint }\n}\n", null],
  ];

  async function fetcher(params, options) {
    const headers = { "Content-Type": "application/json", ...((options && options.headers) || {}) };
    const token = tokenInput.value;
    if (token && !Object.keys(headers).some((h) => h.toLowerCase() === "authorization")) {
      headers.Authorization = "Bearer " + token;
    }
    const response = await fetch(config.endpoint, {
      method: "POST", headers, body: JSON.stringify(params), credentials: "same-origin",
    });
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch (_) {  // not GraphQL's JSON (a proxy's error page, ...): show what came back
      return { errors: [{ message: `HTTP ${response.status} ${response.statusText}: ${text}` }] };
    }
  }

  const Component = window.GraphiQL.GraphiQL || window.GraphiQL;
  const root = window.ReactDOM.createRoot(document.getElementById("graphiql"));
  let mounts = 0;
  const mount = () => root.render(window.React.createElement(Component, {
    key: ++mounts,
    fetcher,
    defaultQuery: EXAMPLES[0][0],
    defaultTabs: EXAMPLES.map(([query, variables]) => ({
      query, variables: variables ? JSON.stringify(variables, null, 2) : undefined,
    })),
    defaultEditorToolsVisibility: true,
  }));
  mount();
})();
