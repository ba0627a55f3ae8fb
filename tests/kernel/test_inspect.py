"""`phydev inspect ... list` against bpftool's view of the same real kernel objects."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import pytest

from tests.conftest import (
    LinkFixture,
    PacketFixture,
    bpftool_by_id,
    bpftool_json,
    run_phydev,
    stable_ids,
)

# libbpf's names (what bpftool prints), indexed by the kernel's enum values.
LIBBPF_PROG_TYPES = [
    "unspec",
    "socket_filter",
    "kprobe",
    "sched_cls",
    "sched_act",
    "tracepoint",
    "xdp",
    "perf_event",
    "cgroup_skb",
    "cgroup_sock",
    "lwt_in",
    "lwt_out",
    "lwt_xmit",
    "sock_ops",
    "sk_skb",
    "cgroup_device",
    "sk_msg",
    "raw_tracepoint",
    "cgroup_sock_addr",
    "lwt_seg6local",
    "lirc_mode2",
    "sk_reuseport",
    "flow_dissector",
    "cgroup_sysctl",
    "raw_tracepoint_writable",
    "cgroup_sockopt",
    "tracing",
    "struct_ops",
    "ext",
    "lsm",
    "sk_lookup",
    "syscall",
    "netfilter",
]
LIBBPF_MAP_TYPES = [
    "unspec",
    "hash",
    "array",
    "prog_array",
    "perf_event_array",
    "percpu_hash",
    "percpu_array",
    "stack_trace",
    "cgroup_array",
    "lru_hash",
    "lru_percpu_hash",
    "lpm_trie",
    "array_of_maps",
    "hash_of_maps",
    "devmap",
    "sockmap",
    "cpumap",
    "xskmap",
    "sockhash",
    "cgroup_storage",
    "reuseport_sockarray",
    "percpu_cgroup_storage",
    "queue",
    "stack",
    "sk_storage",
    "devmap_hash",
    "struct_ops",
    "ringbuf",
    "inode_storage",
    "task_storage",
    "bloom_filter",
    "user_ringbuf",
    "cgrp_storage",
    "arena",
]
CONTRACT_PROG_TYPES = [
    "UnspecifiedProgram",
    "SocketFilter",
    "Kprobe",
    "SchedCLS",
    "SchedACT",
    "TracePoint",
    "XDP",
    "PerfEvent",
    "CGroupSKB",
    "CGroupSock",
    "LWTIn",
    "LWTOut",
    "LWTXmit",
    "SockOps",
    "SkSKB",
    "CGroupDevice",
    "SkMsg",
    "RawTracepoint",
    "CGroupSockAddr",
    "LWTSeg6Local",
    "LircMode2",
    "SkReuseport",
    "FlowDissector",
    "CGroupSysctl",
    "RawTracepointWritable",
    "CGroupSockopt",
    "Tracing",
    "StructOps",
    "Extension",
    "LSM",
    "SkLookup",
    "Syscall",
    "Netfilter",
]
CONTRACT_MAP_TYPES = [
    "UnspecifiedMap",
    "Hash",
    "Array",
    "ProgramArray",
    "PerfEventArray",
    "PerCPUHash",
    "PerCPUArray",
    "StackTrace",
    "CGroupArray",
    "LRUHash",
    "LRUCPUHash",
    "LPMTrie",
    "ArrayOfMaps",
    "HashOfMaps",
    "DevMap",
    "SockMap",
    "CPUMap",
    "XSKMap",
    "SockHash",
    "CGroupStorage",
    "ReusePortSockArray",
    "PerCPUCGroupStorage",
    "Queue",
    "Stack",
    "SkStorage",
    "DevMapHash",
    "StructOpsMap",
    "RingBuf",
    "InodeStorage",
    "TaskStorage",
    "BloomFilter",
    "UserRingbuf",
    "CgroupStorage",
    "Arena",
]
PROG_TYPE = dict(zip(LIBBPF_PROG_TYPES, CONTRACT_PROG_TYPES, strict=True))
MAP_TYPE = dict(zip(LIBBPF_MAP_TYPES, CONTRACT_MAP_TYPES, strict=True))


def table_rows(stdout: str) -> tuple[list[str], dict[int, list[str]]]:
    lines = stdout.rstrip("\n").split("\n")
    header = lines[0].split("\t")
    rows = {}
    for line in lines[1:]:
        cells = line.split("\t")
        rows[int(cells[0])] = cells
    return header, rows


def as_list(value: object) -> list[dict[str, object]]:
    assert isinstance(value, list)
    return value


def test_progs_list_matches_bpftool(packet_fixture: PacketFixture) -> None:
    packet_fixture.pump(5)
    before = {p["id"]: p for p in as_list(bpftool_json("prog", "show"))}
    # --show-agent: bpftool lists the iterators of phydev processes running meanwhile too
    header, rows = table_rows(run_phydev("inspect", "progs", "list", "--show-agent").stdout)
    after = {p["id"]: p for p in as_list(bpftool_json("prog", "show"))}

    assert header == ["ID", "Name", "Type", "Tag", "RunCount", "RunTime", "AvgRunTime"]
    assert set(rows) >= set(before) & set(after)
    for prog_id in set(before) & set(after):
        ref = before[prog_id]
        cells = rows[prog_id]
        # bpftool shows the full (BTF) name where the kernel's is cut at 15 characters; the
        # contract's Name column is the kernel's
        assert cells[1] == ref.get("name", "")[:15], cells
        assert cells[2] == PROG_TYPE[str(ref["type"])]
        assert cells[3] == ref["tag"]
        # Counts may move between the three reads; they must be ordered around ours.
        run_before = int(str(ref.get("run_cnt", 0)))
        run_after = int(str(after[prog_id].get("run_cnt", 0)))
        assert run_before <= int(cells[4]) <= run_after
    counted = rows[packet_fixture.obj.prog_ids["count_packets"]]
    assert int(counted[4]) > 0, "the attached socket filter must have run"
    assert counted[5] != "0s" and counted[6] != "0s"


def test_progs_list_json_matches_bpftool(packet_fixture: PacketFixture) -> None:
    before = bpftool_by_id("prog")
    listed = run_phydev("inspect", "progs", "list", "--json", "--show-agent").stdout
    ours = {p["id"]: p for p in json.loads(listed)}
    after = bpftool_by_id("prog")
    own = packet_fixture.obj.prog_ids.values()
    for prog_id in stable_ids(ours, before, after, own):
        ref: dict[str, Any] = after[prog_id]
        mine = ours[prog_id]
        assert mine["name"] == ref.get("name", "")[:15]  # the kernel's, cut at 15 characters
        assert mine["fullName"] == ref.get("name", "")  # bpftool completes it from BTF
        assert mine["tag"] == ref["tag"]
        assert mine["type"] == PROG_TYPE[str(ref["type"])]
        assert mine["uid"] == ref["uid"]
        assert mine["xlatedSize"] == ref["bytes_xlated"]
        assert mine["jitedSize"] == ref.get("bytes_jited", 0)
        assert mine["gplCompatible"] == ref["gpl_compatible"]
        assert mine["mapIds"] == ref.get("map_ids", [])
        assert mine["btfId"] == ref.get("btf_id", 0)
        # bpftool prints the load time in whole seconds.
        from datetime import datetime

        loaded = datetime.fromisoformat(str(mine["loadedAt"])).timestamp()
        assert abs(loaded - int(str(ref["loaded_at"]))) <= 1


def test_maps_list_matches_bpftool(packet_fixture: PacketFixture) -> None:
    before = bpftool_by_id("map")
    result = run_phydev("inspect", "maps", "list", "--bpf_dir", packet_fixture.bpf_dir,
                        "--show-agent")  # fmt: skip
    after = bpftool_by_id("map")
    header, rows = table_rows(result.stdout)
    assert header == [
        "ID", "Name", "Type", "Flags", "IsPinned", "KeySize", "ValueSize", "MaxEntries",
    ]  # fmt: skip
    pinned = set(packet_fixture.obj.map_ids.values())
    for map_id in stable_ids(rows, before, after, pinned):
        ref = after[map_id]
        cells = rows[map_id]
        assert cells[1] == ref.get("name", "")
        assert cells[2] == MAP_TYPE[str(ref["type"])]
        assert cells[3] == str(ref["flags"])
        assert cells[4] == ("true" if ref["id"] in pinned else "false")
        assert cells[5:] == [
            str(ref["bytes_key"]),
            str(ref["bytes_value"]),
            str(ref["max_entries"]),
        ]
    for name, map_id in packet_fixture.obj.map_ids.items():
        assert rows[map_id][4] == "true", name


def test_maps_list_json_has_pin_paths(packet_fixture: PacketFixture) -> None:
    out = run_phydev("inspect", "maps", "list", "--json", "--bpf-dir", packet_fixture.bpf_dir)
    ours = {m["id"]: m for m in json.loads(out.stdout)}
    flows = ours[packet_fixture.obj.map_ids["flows"]]
    assert flows["pins"] == [packet_fixture.obj.map_pin("flows")]
    assert flows["isPinned"] is True
    assert flows["type"] == "Hash" and flows["keySize"] == 8 and flows["valueSize"] == 16
    assert ours[packet_fixture.obj.map_ids["AT_pkts"]]["isPerCPU"] is True


def test_maps_list_bpf_dir_from_env(packet_fixture: PacketFixture) -> None:
    out = run_phydev("inspect", "maps", "list", env={"BPF_DIR": packet_fixture.bpf_dir})
    _, rows = table_rows(out.stdout)
    assert rows[packet_fixture.obj.map_ids["counters"]][4] == "true"
    out = run_phydev("inspect", "maps", "list", env={"BPF_DIR": "/nonexistent"})
    _, rows = table_rows(out.stdout)
    assert rows[packet_fixture.obj.map_ids["counters"]][4] == "false"


def test_links_list_matches_bpftool(
    link_fixture: LinkFixture, packet_fixture: PacketFixture
) -> None:
    before = bpftool_by_id("link")
    out = run_phydev("inspect", "links", "list", "--json", "--bpf_dir", packet_fixture.bpf_dir,
                     "--show-agent")  # fmt: skip
    ref: dict[int, dict[str, Any]] = bpftool_by_id("link")
    ours = {link["id"]: link for link in json.loads(out.stdout)}
    stable_ids(ours, before, ref, [link_fixture.xdp_link_id, link_fixture.cgroup_link_id])
    xdp = ours[link_fixture.xdp_link_id]
    assert xdp["type"] == "XDP" == ref[link_fixture.xdp_link_id]["type"].upper()
    assert xdp["programId"] == ref[link_fixture.xdp_link_id]["prog_id"]
    assert xdp["programId"] == packet_fixture.obj.prog_ids["xdp_pass"]
    # bpftool 7.1 prints no attach details for XDP links: check against the interface itself.
    assert xdp["ifindex"] == socket.if_nametoindex(link_fixture.devname)
    assert xdp["devname"] == link_fixture.devname
    assert xdp["pins"] == [link_fixture.xdp_pin]
    cg = ours[link_fixture.cgroup_link_id]
    cg_ref = ref[link_fixture.cgroup_link_id]
    assert cg["type"] == "Cgroup" and cg_ref["type"] == "cgroup"
    assert cg["programId"] == cg_ref["prog_id"] == packet_fixture.obj.prog_ids["cgroup_allow"]
    assert cg["cgroup_id"] == cg_ref["cgroup_id"] == os.stat(link_fixture.cgroup_path).st_ino
    assert cg["attach_type"] == cg_ref["attach_type"] == "cgroup_inet_ingress"
    assert cg["pins"] == []

    header, rows = table_rows(run_phydev("inspect", "links", "list").stdout)
    assert header == ["ID", "Type", "ProgramID", "Attach"]
    assert rows[link_fixture.xdp_link_id][1:3] == ["XDP", str(xdp["programId"])]
    assert f"devname={link_fixture.devname}" in rows[link_fixture.xdp_link_id][3]


def test_links_show_has_cgroup_path_program_and_owners(
    link_fixture: LinkFixture, packet_fixture: PacketFixture
) -> None:
    """The cgroup link is held only by this test process's fd: it must be among the owners
    (bpftool's "pids"), and its cgroup id resolved to the cgroup's path."""
    link_id = link_fixture.cgroup_link_id
    out = run_phydev("inspect", "links", "show", str(link_id), "--json")
    details = json.loads(out.stdout)
    ref = bpftool_json("link", "show", "id", str(link_id))
    assert isinstance(ref, dict)
    assert details["id"] == link_id and details["type"] == "Cgroup"
    assert details["cgroup_id"] == ref["cgroup_id"]
    assert details["cgroupPath"] == link_fixture.cgroup_path
    prog_id = packet_fixture.obj.prog_ids["cgroup_allow"]
    assert details["program"] == {"id": prog_id, "name": "cgroup_allow", "type": "CGroupSKB"}
    owner_pids = {o["pid"] for o in details["owners"]}
    assert os.getpid() in owner_pids
    if "pids" in ref:  # bpftool built with its pid-iterator skeleton
        assert {p["pid"] for p in ref["pids"]} == owner_pids
    text = run_phydev("inspect", "links", "show", str(link_id)).stdout
    lines = dict(line.split(None, 1) for line in text.splitlines())
    assert lines["cgroupPath"] == link_fixture.cgroup_path
    assert lines["program"] == f"id={prog_id} name=cgroup_allow type=CGroupSKB"
    assert f"pid={os.getpid()} " in lines["owners"]
    missing = run_phydev("inspect", "links", "show", "4000000", check=False)
    assert missing.returncode == 1 and "link 4000000 not found" in missing.stderr


@pytest.mark.parametrize("who", ["nobody", "nocaps"])
def test_unprivileged_user_gets_one_clear_line(kernel: None, who: str) -> None:
    """As `nobody`, or as root without capabilities, listing needs privileges we do not
    have: one line, non-zero, no traceback."""
    for what in ("progs", "maps", "links"):
        result = run_phydev("inspect", what, "list", check=False, unprivileged=who)
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        # Who runs it and what it lacks, then what to do (issue 22: the real cause).
        assert "lacks CAP_BPF and CAP_SYS_ADMIN" in lines[0], lines[0]
        assert "CAP_BPF + CAP_SYS_ADMIN" in lines[0].split("lacks", 1)[1]
        assert result.stdout == ""


@pytest.mark.parametrize("args", [["about"], ["--version"]])
def test_about_and_version(args: list[str]) -> None:
    out = run_phydev(*args).stdout
    assert "phydev" in out
    if args == ["--version"]:
        from devagent import __version__

        assert __version__ in out


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["inspect"],
        ["inspect", "progs"],
        ["inspect", "progs", "list"],
        ["inspect", "maps", "list"],
        ["inspect", "links", "list"],
        ["server"],
    ],
)
def test_help_everywhere(args: list[str]) -> None:
    out = run_phydev(*args, "--help").stdout
    assert out.startswith("Usage: phydev")
    if args[-1:] == ["server"]:
        for flag in ("--bpf_dir", "--path-prefix", "--skip-welcome", "--etm", "--allow-writes"):
            assert flag in out


def test_progs_show_has_maps_links_pins(
    packet_fixture: PacketFixture, link_fixture: LinkFixture
) -> None:
    prog_id = packet_fixture.obj.prog_ids["xdp_pass"]
    out = run_phydev(
        "inspect", "progs", "show", str(prog_id), "--json", "--bpf_dir", packet_fixture.bpf_dir
    )
    details = json.loads(out.stdout)
    ref = bpftool_json("prog", "show", "id", str(prog_id))
    assert isinstance(ref, dict)
    assert details["id"] == prog_id and details["tag"] == ref["tag"]
    assert [m["id"] for m in details["maps"]] == ref["map_ids"]
    assert [link["id"] for link in details["links"]] == [link_fixture.xdp_link_id]
    assert details["pins"] == [packet_fixture.obj.prog_pin("xdp_pass")]
    text = run_phydev("inspect", "progs", "show", str(prog_id)).stdout
    assert f"id               {prog_id}\n" in text and "type             XDP\n" in text


def test_maps_show_lists_programs_and_owners(packet_fixture: PacketFixture) -> None:
    from devagent.bpf.maps import create_map
    from devagent.bpf.names import MAP_TYPE_IDS
    from devagent.bpf.objects import map_info

    with create_map(MAP_TYPE_IDS["Hash"], 4, 4, 4, name="t_show", flags=1) as fd:
        map_id = map_info(fd).id
        details = json.loads(run_phydev("inspect", "maps", "show", str(map_id), "--json").stdout)
        assert details["name"] == "t_show" and details["flagNames"] == ["NO_PREALLOC"]
        owners = [{k: o[k] for k in ("pid", "comm", "fd")} for o in details["owners"]]
        assert {"pid": os.getpid(), "comm": details["owners"][0]["comm"], "fd": fd.fd} in owners
    flows = packet_fixture.obj.map_ids["flows"]
    details = json.loads(run_phydev("inspect", "maps", "show", str(flows), "--json").stdout)
    assert [p["id"] for p in details["programs"]] == [packet_fixture.obj.prog_ids["count_packets"]]
    ref = bpftool_json("map", "show", "id", str(flows))
    assert isinstance(ref, dict)
    assert details["btfId"] == ref["btf_id"]


def test_show_unknown_id_is_one_line(kernel: None) -> None:
    for what in ("progs", "maps"):
        result = run_phydev("inspect", what, "show", "4000000000", check=False)
        assert result.returncode == 1
        kind = "program" if what == "progs" else "map"
        assert result.stderr == f"phydev: {kind} 4000000000 not found\n"
