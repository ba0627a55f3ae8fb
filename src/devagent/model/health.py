"""Probe answers for orchestrators: is the kernel readable from here right now?

Kubernetes (and `podman kube play`) restart a pod whose liveness probe fails and keep traffic
away from one whose readiness probe fails. Liveness only needs the process to answer; readiness
needs what every request needs: the bpf() commands that enumerate programs and maps, which
fail without CAP_BPF/CAP_SYS_ADMIN (a container started without them) or under a seccomp
profile that blocks bpf(). One BPF_PROG_GET_NEXT_ID and one BPF_MAP_GET_NEXT_ID are enough to
tell, and cost two syscalls: cheap enough to be probed every few seconds.
"""

from __future__ import annotations

from ..bpf.errors import BPFError
from ..bpf.handles import iter_map_ids, iter_program_ids


def kernel_unreadable_reason() -> str | None:
    """None when programs and maps can be enumerated, otherwise why not (the kernel's error)."""
    for what, ids in (("programs", iter_program_ids), ("maps", iter_map_ids)):
        try:
            next(ids(), None)
        except BPFError as exc:
            return f"cannot list eBPF {what}: {exc}"
    return None
