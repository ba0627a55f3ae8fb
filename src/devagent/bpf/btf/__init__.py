"""BTF, the type information the kernel keeps for programs and maps, read in pure Python.

- `parse`: the wire format (header, type and string sections) into a lazily decoded `Btf`.
- `types`: the type records (plain frozen dataclasses, include/uapi/linux/btf.h).
- `objects`: the kernel's BTF objects as raw blobs (BPF_BTF_GET_FD_BY_ID, info, data).
- `cnames`: a type as C declares it (`struct foo *`), for listings and signatures.
- `signature`: a function's prototype as C source, for program listings.

Rendering values with BTF (what `bpftool map dump` shows under "formatted") is model work:
devagent.model.btf_render.
"""

from .parse import Btf, clear_btf_cache, load_btf, parse_btf
from .types import BTFError

__all__ = ["BTFError", "Btf", "clear_btf_cache", "load_btf", "parse_btf"]
