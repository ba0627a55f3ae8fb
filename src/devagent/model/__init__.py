"""What every consumer shares: one view of the kernel and one way to turn bytes into text.

- `inventory`: Snapshot (programs, maps, links, pins and their relations, taken in one walk)
  and Inventory (shares snapshots and whole-map reads among concurrent callers);
- `codec`: map bytes <-> HEX / STRING / NUMBER text, in bulk; `btf_render` and
  `btf_entries`: bytes -> values decoded through BTF, as bpftool prints them;
- `etm`: the `--etm` rules; `settings`: the one Settings dataclass the CLI passes down;
- `memory`: giving freed memory back once a big read is dropped;
- `health`: whether the kernel is readable right now (the /readyz probe).

Imports only from devagent.bpf.
"""
