"""The kernel: a thin typed layer over the bpf() syscall, bpffs and /proc (stdlib + ctypes).

Nothing here knows of GraphQL, HTTP or Prometheus, and nothing imports from the layers
above. Modules, lowest first: `_sys` (syscall and UAPI structs), `errors` (errno -> named
exceptions), `names` (type names of the contract), `info` (ProgramInfo, MapInfo, LinkInfo,
ObjectError), `handles` (Fd, ids, open by id), `btf/` (BTF: parse, types, objects, cnames,
signature), `links`, `objects` (list_programs, list_maps, list_links, get_*), `maps`
(MapHandle, MapDump: entries), `progs`, `pins`, `procfs`, `cgroups`, `tasks`, `stats`;
`lru` (the bounded LRU map every layer's caches use); `iter/` (the agent's own iterator
programs) and `features/` (what the running kernel can do) on top of those.

This file imports nothing on purpose: `phydev inspect` pays only for the modules it uses.
"""
