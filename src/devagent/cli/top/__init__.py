"""`phydev top`: the live view of what eBPF costs this host (or a remote agent's) right now.

- `frame`: what one refresh shows (header, rows, the selected program's detail), whatever
  the source;
- `local`: frames from this host's kernel (model.rates / model.history, a held
  BPF_ENABLE_STATS fd); `remote`: frames from an agent's GraphQL API, one query per refresh;
- `jsonl`: the `--json` lines; `app`: the Textual screen (Textual is imported only there,
  so `phydev inspect` and `top --json` never load it); `run`: the command's body.
"""
