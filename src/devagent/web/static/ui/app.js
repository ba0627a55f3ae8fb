// The web UI: a single page routing in the browser under `<path-prefix>ui/`.
import { config, html, render, useEffect, useState } from "./lib.js";
import { getToken, setNeedTokenHandler, setToken } from "./api.js";
import { Link } from "./components.js";
import { interceptLinks, useRoute } from "./router.js";
import { Overview } from "./pages/overview.js";
import { Programs } from "./pages/programs.js";
import { Program } from "./pages/program.js";
import { Maps } from "./pages/maps.js";
import { MapPage } from "./pages/map.js";
import { Links } from "./pages/links.js";
import { Graph } from "./pages/graph.js";
import { Fleet } from "./pages/fleet.js";

/** Asks for the bearer token once (on the first 401, or at once when the agent says it needs
 * one); kept in sessionStorage, so for this tab only. */
function TokenForm({ onDone, wrong }) {
  const [value, setValue] = useState("");
  const submit = (event) => { event.preventDefault(); setToken(value.trim()); onDone(); };
  return html`<form class="token-form card" onSubmit=${submit} data-testid="token-form">
    <h2>This agent needs a bearer token</h2>
    ${wrong ? html`<p class="error" role="alert">The agent refused the token: missing or
      wrong bearer token.</p>` : null}
    <p>It was started with <code>--auth-token</code>. The token is kept for this browser tab
      only (sessionStorage).</p>
    <input type="password" aria-label="bearer token" value=${value} autocomplete="off"
      onInput=${(e) => setValue(e.currentTarget.value)} required/>
    <button type="submit">Use token</button>
  </form>`;
}

function Page({ parts }) {
  const [section, id, extra] = parts;
  const num = Number(id);
  if (!section) return html`<${Overview}/>`;
  if (section === "programs" && !id) return html`<${Programs}/>`;
  if (section === "programs" && Number.isInteger(num)) return html`<${Program} id=${num}/>`;
  if (section === "maps" && !id) return html`<${Maps}/>`;
  if (section === "maps" && Number.isInteger(num)) return html`<${MapPage} id=${num}/>`;
  if (section === "links" && !id) return html`<${Links}/>`;
  if (section === "fleet" && !id) return html`<${Fleet}/>`;
  if (section === "graph" && id && Number.isInteger(Number(extra))) {
    return html`<${Graph} kind=${id} id=${Number(extra)}/>`;
  }
  return html`<section><h1>Not found</h1><p class="error" role="alert">There is no page${" "}
    ${parts.join("/")} here.</p><p><${Link} to="">Overview</${Link}></p></section>`;
}

function App() {
  const route = useRoute();
  const [asking, setAsking] = useState(config.authRequired && !getToken() ? "first" : null);
  useEffect(() => setNeedTokenHandler(() => setAsking(getToken() ? "wrong" : "first")), []);
  // A graph page belongs to the kind of object it starts from (graph/program/3: Programs).
  const graphOf = { program: "programs", map: "maps", link: "links" };
  const section = (route.parts[0] === "graph" ? graphOf[route.parts[1]] : route.parts[0]) || "";
  const nav = [["", "Overview"], ["programs", "Programs"], ["maps", "Maps"],
    ["links", "Links"], ["fleet", "Fleet"]];
  return html`<header class="top">
      <b class="brand">phydev</b>
      <nav>${nav.map(([to, label]) => html`<${Link} to=${to}
        class=${section === to ? "active" : ""} aria-current=${section === to ? "page" : null}
        >${label}</${Link}>`)}
        <a href=${config.prefix}>GraphiQL</a></nav>
      <span class="muted version">v${config.version}</span>
    </header>
    <main>
      ${asking ? html`<${TokenForm} wrong=${asking === "wrong"}
        onDone=${() => setAsking(null)}/>` : html`<${Page} key=${route.parts.join("/")}
        parts=${route.parts}/>`}
    </main>`;
}

const root = document.getElementById("app");
root.textContent = "";
interceptLinks(document.body);
render(html`<${App}/>`, root);
