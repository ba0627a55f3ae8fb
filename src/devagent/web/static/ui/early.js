// Started by the page at once (an async module), before the app has loaded: see queries.js.
import { startEarly } from "./queries.js";

startEarly();
