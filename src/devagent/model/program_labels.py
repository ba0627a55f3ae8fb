"""Short texts that describe a program in one table cell: its name, where it is attached
(every attachment, model.attachments), and who holds it. `phydev top` (local and remote)
and the API's `attachPoint` use these, so the same program reads the same everywhere.
"""

from __future__ import annotations

from ..bpf.info import ProgramInfo
from .attachments import attachments_of, link_label, task_label
from .identity import ProgramIdentities
from .inventory import Snapshot
from .stats_mode import owner_label

__all__ = [
    "attach_labels",
    "attach_summary",
    "first_owner",
    "link_label",
    "program_display_name",
    "task_label",
]

# Full names outlive snapshots (fixed for a loaded program): one cache for every view of
# this process that has no Inventory of its own to ask.
_IDENTITIES = ProgramIdentities()


def program_display_name(info: ProgramInfo, identities: ProgramIdentities | None = None) -> str:
    """The name every view shows for a program: its kernel name, or where the kernel cut it
    at 15 characters, the BTF name of its main function (model.identity, bpftool's rule).
    Every name `phydev top` shows goes through here."""
    return (identities or _IDENTITIES).full_name(info)


def attach_labels(snap: Snapshot, prog_id: int) -> list[str]:
    """Every attach point of the program, whatever made it (model.attachments): links, then
    netlink XDP and tc, cgroup attachments without links, perf events held by processes
    (computed for the whole host once per snapshot; the /proc walk is the dearest part)."""
    return [a.label for a in attachments_of(snap, prog_id)]


def attach_summary(labels: list[str]) -> str:
    """One cell: the first attach point, and how many more there are; `-` for none (e.g. a
    socket filter attached with setsockopt, which the kernel does not list anywhere)."""
    if not labels:
        return "-"
    return labels[0] if len(labels) == 1 else f"{labels[0]} (+{len(labels) - 1})"


def first_owner(snap: Snapshot, prog_id: int) -> str:
    """The first process holding an fd to the program, as comm[pid]; `-` for none."""
    owners = snap.owners("program", prog_id)
    return owner_label(owners[0].comm, owners[0].pid) if owners else "-"
