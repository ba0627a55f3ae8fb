"""Full details of one program, map or link for `phydev inspect progs|maps|links show`:
everything the kernel says plus relations (maps, links, pins, owning processes)."""

from __future__ import annotations

from ..bpf.info import MapInfo, ProgramInfo
from ..bpf.names import map_flag_names
from ..bpf.objects import program_memlock
from ..model.attachments import attachments_of
from ..model.snapshot import Snapshot
from .list_rows import link_json, map_json, program_json
from .textfmt import go_bool, go_duration


def _brief(obj: ProgramInfo | MapInfo) -> dict[str, object]:
    """A related program or map, as the show commands list it."""
    return {"id": obj.id, "name": obj.name, "type": obj.type_name}


def _owners(snap: Snapshot, kind: str, obj_id: int) -> list[dict[str, object]]:
    """Processes holding the object, with where they run (as GraphQL's Owner)."""
    out: list[dict[str, object]] = []
    for o in snap.owners(kind, obj_id):
        w = snap.workload(o.pid)
        c, pod = w.container, w.pod
        out.append({
            "pid": o.pid, "comm": o.comm, "fd": o.fd, "cgroup": w.cgroup,
            "systemdUnit": w.systemd_unit,
            "container": {"id": c.id, "runtime": c.runtime} if c else None,
            "pod": {"uid": pod.uid, "name": pod.name, "namespace": pod.namespace} if pod else None,
        })  # fmt: skip
    return out


def _owner_text(owner: dict[str, object]) -> str:
    """One owner on one line: `pid=.. comm=.. fd=.. cgroup=.. unit=.. container=docker:<12
    hex> pod=namespace/name (uid ..)`."""
    parts = [f"{k}={owner[k]}" for k in ("pid", "comm", "fd", "cgroup") if owner.get(k)]
    if owner.get("systemdUnit"):
        parts.append(f"unit={owner['systemdUnit']}")
    container = owner.get("container")
    if isinstance(container, dict):
        parts.append(f"container={container['runtime']}:{str(container['id'])[:12]}")
    pod = owner.get("pod")
    if isinstance(pod, dict):
        name = f"{pod['namespace'] or '?'}/{pod['name'] or '?'}"
        parts.append(f"pod={name} (uid {pod['uid']})")
    return " ".join(parts)


def program_details(snap: Snapshot, prog_id: int) -> dict[str, object]:
    """The program as JSON: listing fields plus memlock, maps, links, every attachment
    (model.attachments: links, netlink XDP and tc, cgroup, perf events) and owners."""
    prog = snap.program(prog_id)
    out = program_json(prog, snap.program_pins(prog_id))
    out["memlock"] = program_memlock(prog_id)
    out["maps"] = [_brief(m) for m in snap.maps_of_program(prog_id)]
    out["links"] = [link_json(link, snap.pins) for link in snap.links_of_program(prog_id)]
    out["attachments"] = [a.to_json() for a in attachments_of(snap, prog_id)]
    out["owners"] = _owners(snap, "program", prog_id)
    out["metadata"] = [{"key": kv.key, "value": kv.value} for kv in snap.metadata(prog_id)]
    return out


def map_details(snap: Snapshot, map_id: int) -> dict[str, object]:
    """The map as JSON: listing fields plus decoded flags, BTF ids, programs and owners."""
    info = snap.map(map_id)
    out = map_json(info, snap.pins)
    out["flagNames"] = map_flag_names(info.flags)
    out["btfKeyTypeId"] = info.btf_key_type_id or None
    out["btfValueTypeId"] = info.btf_value_type_id or None
    out["mapExtra"] = info.map_extra
    out["programs"] = [_brief(p) for p in snap.programs_using_map(map_id)]
    out["owners"] = _owners(snap, "map", map_id)
    return out


def link_details(snap: Snapshot, link_id: int) -> dict[str, object]:
    """The link as JSON: listing fields, the program it attaches, the cgroup path resolved
    from the cgroup id where the cgroup still exists, and owners."""
    link = snap.link(link_id)
    out = link_json(link, snap.pins)
    if "cgroup_id" in link.details:
        out["cgroupPath"] = snap.cgroup_path(int(str(link.details["cgroup_id"])))
    prog = snap.programs.get(link.prog_id)
    out["program"] = _brief(prog) if prog is not None else None
    out["owners"] = _owners(snap, "link", link_id)
    return out


def _attachment_text(a: dict[str, object]) -> str:
    """One attachment on one line: where, then how: `eth0 xdpgeneric (netlink)`,
    `cgroup /sys/fs/cgroup/x cgroup_inet_ingress (link 12)`, `tracepoint sys_enter
    (perf_event, pid 42)`."""
    how = [str(a["mechanism"])]
    if a.get("linkId") is not None:
        how = [f"link {a['linkId']}"]
    if a.get("pid") is not None:
        how.append(f"pid {a['pid']}")
    target, kind = str(a["target"]), str(a["kind"])
    if not any(word.startswith(kind) for word in target.split()):
        target = f"{kind} {target}"  # `iter bpf_prog`, `tracepoint sys_enter`
    return f"{target} ({', '.join(how)})"


def _value_text(key: str, value: object) -> str:
    if isinstance(value, bool):
        return go_bool(value)
    if value is None:
        return "-"
    if key in ("runTime", "avgRunTime") and isinstance(value, float):
        return go_duration(round(value * 1e9))
    if key == "owners" and isinstance(value, list):
        return "\n".join(_owner_text(o) for o in value) or "-"
    if key == "memlock" and isinstance(value, int):
        return f"{value}B"  # as bpftool prog show prints it
    if key == "attachments" and isinstance(value, list):
        return "\n".join(_attachment_text(a) for a in value) or "-"
    if key == "metadata" and isinstance(value, list):
        # bpftool's layout: `key = value`, one per line
        return "\n".join(f"{kv['key']} = {kv['value']}" for kv in value) or "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        if not value:
            return "-"
        if isinstance(value[0], dict):
            return "\n".join(
                " ".join(f"{k}={v}" for k, v in item.items() if v is not None) for item in value
            )
        return ", ".join(str(v) for v in value)
    return str(value)


def details_text(details: dict[str, object]) -> str:
    """`key  value` lines; multi-line values (maps, links, owners) indented below their key."""
    width = max(len(k) for k in details) + 2
    lines = []
    for key, value in details.items():
        text = _value_text(key, value).split("\n")
        lines.append(f"{key.ljust(width)}{text[0]}")
        lines.extend(" " * width + more for more in text[1:])
    return "\n".join(lines) + "\n"
