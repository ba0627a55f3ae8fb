"""Rows of the `phydev inspect ... list` commands, as table cells and as JSON objects.

JSON field names follow the GraphQL types (camelCase), so scripts can move between the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..bpf.info import LinkInfo, MapInfo, ObjectError, ProgramInfo
from ..bpf.pins import PinIndex
from .textfmt import go_bool, go_duration

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..bpf.features import Feature

PROG_HEADER = ["ID", "Name", "Type", "Tag", "RunCount", "RunTime", "AvgRunTime"]
MAP_HEADER = ["ID", "Name", "Type", "Flags", "IsPinned", "KeySize", "ValueSize", "MaxEntries"]
LINK_HEADER = ["ID", "Type", "ProgramID", "Attach"]
FEATURE_HEADER = ["Feature", "Status", "Since", "Detail"]


def program_cells(p: ProgramInfo) -> list[str]:
    return [
        str(p.id),
        p.name,
        p.type_name,
        p.tag,
        str(p.run_count),
        go_duration(p.run_time_ns),
        go_duration(p.avg_run_time_ns),
    ]


def program_json(p: ProgramInfo, pins: Sequence[str] = ()) -> dict[str, object]:
    from ..bpf.prog_identity import program_full_name  # JSON only: BTF costs ~30 ms to load

    return {
        "id": p.id,
        "name": p.name,
        "fullName": program_full_name(p),
        "type": p.type_name,
        "tag": p.tag,
        "runCount": p.run_count,
        "runTime": p.run_time_ns / 1e9,
        "avgRunTime": p.avg_run_time_ns / 1e9,
        "btfId": p.btf_id,
        "loadedAt": p.loaded_at.isoformat(),
        "uid": p.uid,
        "xlatedSize": p.xlated_size,
        "jitedSize": p.jited_size,
        "verifiedInsns": p.verified_insns,
        "recursionMisses": p.recursion_misses,
        "gplCompatible": p.gpl_compatible,
        "mapIds": list(p.map_ids),
        "isPinned": bool(pins),
        "pins": list(pins),
    }


def with_attachments(
    items: Sequence[ProgramInfo | ObjectError],
    cells: Callable[[ProgramInfo], list[str]],
    to_json: Callable[[ProgramInfo], dict[str, object]],
) -> tuple[
    list[str], Callable[[ProgramInfo], list[str]], Callable[[ProgramInfo], dict[str, object]]
]:
    """`progs list --attach`: the header, cells and JSON with every program's attachments
    (model.attachments: links, netlink XDP and tc, cgroup, perf events), read once for all:
    an Attach column (the short label, `-` for none) and, in JSON, `attachPoint` (null for
    none) and `attachments` (GraphQL's Attachment)."""
    from ..bpf.objects import list_links
    from ..model.attachments import attachments_of
    from ..model.program_labels import attach_summary
    from ..model.snapshot import Snapshot

    snap = Snapshot.of(programs=items, links=list_links())

    def attach_cells(p: ProgramInfo) -> list[str]:
        return [*cells(p), attach_summary([a.label for a in attachments_of(snap, p.id)])]

    def attach_json(p: ProgramInfo) -> dict[str, object]:
        found = attachments_of(snap, p.id)
        summary = attach_summary([a.label for a in found]) if found else None
        return {**to_json(p), "attachPoint": summary,
                "attachments": [a.to_json() for a in found]}  # fmt: skip

    return [*PROG_HEADER, "Attach"], attach_cells, attach_json


def map_cells(m: MapInfo, pins: PinIndex) -> list[str]:
    return [
        str(m.id),
        m.name,
        m.type_name,
        str(m.flags),
        go_bool(m.id in pins.maps),
        str(m.key_size),
        str(m.value_size),
        str(m.max_entries),
    ]


def map_json(m: MapInfo, pins: PinIndex) -> dict[str, object]:
    paths = pins.maps.get(m.id, [])
    return {
        "id": m.id,
        "name": m.name,
        "type": m.type_name,
        "flags": m.flags,
        "isPinned": bool(paths),
        "pins": paths,
        "keySize": m.key_size,
        "valueSize": m.value_size,
        "maxEntries": m.max_entries,
        "isPerCPU": m.is_per_cpu,
        "btfId": m.btf_id,
    }


def link_attach_text(link: LinkInfo) -> str:
    return " ".join(f"{k}={v}" for k, v in link.details.items() if v is not None)


def link_cells(link: LinkInfo) -> list[str]:
    return [str(link.id), link.type_name, str(link.prog_id), link_attach_text(link)]


def link_json(link: LinkInfo, pins: PinIndex) -> dict[str, object]:
    return {
        "id": link.id,
        "type": link.type_name,
        "programId": link.prog_id,
        "pins": pins.links.get(link.id, []),
        **link.details,
    }


def error_cells(err: ObjectError) -> list[str]:
    return [str(err.id), err.error]


def error_json(err: ObjectError) -> dict[str, object]:
    return {"id": err.id, "error": err.error}


def feature_cells(f: Feature) -> list[str]:
    return [f.name, f.status, f.since or "-", f.detail]


def feature_json(f: Feature) -> dict[str, object]:
    return {"name": f.name, "title": f.title, "status": f.status, "since": f.since,
            "detail": f.detail}  # fmt: skip
