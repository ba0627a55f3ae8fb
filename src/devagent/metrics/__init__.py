"""The Prometheus exporter behind /metrics: read from the kernel at scrape time.

- `exporter`: MetricsExporter (render one scrape, shared by concurrent scrapers) and the
  prometheus_client Collector;
- `families`: the contract's six gauges and our additions;
- `map_export` (+ `btf_keys`): map entries chosen by `--etm` rules, bounded and labelled;
- `render` (+ `template`): the exposition text, fast, byte-identical to prometheus_client's.

Public name: MetricsExporter. Imports from devagent.model and devagent.bpf only.
"""

from .exporter import MetricsExporter

__all__ = ["MetricsExporter"]
