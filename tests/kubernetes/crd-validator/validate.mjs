// Validate prometheus-operator objects (ServiceMonitor, PrometheusRule) read as a JSON array
// from stdin, with the validators @kubernetes-models/prometheus-operator generates from
// prometheus-operator's CRD OpenAPI schemas. Prints one line per object ("ok KIND NAME" or
// "invalid KIND NAME: errors") and exits 1 if any object is invalid or of an unknown kind.
import { readFileSync } from "node:fs";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const kinds = { ServiceMonitor, PrometheusRule };
let failed = false;
for (const obj of JSON.parse(readFileSync(0, "utf8"))) {
  const name = `${obj.kind} ${obj.metadata?.name}`;
  const Model = obj.apiVersion === "monitoring.coreos.com/v1" ? kinds[obj.kind] : undefined;
  if (!Model) {
    console.log(`invalid ${name}: not a monitoring.coreos.com/v1 ServiceMonitor or PrometheusRule`);
    failed = true;
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`ok ${name}`);
  } catch (err) {
    console.log(`invalid ${name}: ${err.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
