"""Attachments without links (issue 22 item 1), read from the kernel: netlink XDP and tc
(bpf.net_attach, against `bpftool net`), cgroup BPF_PROG_ATTACH (bpf.cgroup_attach, against
`bpftool cgroup tree`), perf events, tcx where the kernel has it, and the per-program list
that merges them with links without duplicates (model.attachments)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devagent.bpf.cgroup_attach import attach_types_for, scan_cgroup_programs
from devagent.bpf.errors import BPFError
from devagent.bpf.links import create_link
from devagent.bpf.names import ATTACH_TYPES
from devagent.bpf.net_attach import list_tcx, scan_net_attachments
from devagent.bpf.pins import open_pinned
from devagent.model.attachments import Attachment, all_attachments, attachments_of
from devagent.model.program_labels import attach_labels
from devagent.model.snapshot import take_snapshot
from tests.attach_objects import (
    NoLinkAttachments,
    PerfAttachment,
    attached_in_netns,
    attached_to_perf_event,
    attached_without_links,
)
from tests.conftest import LinkFixture, bpftool_json, require_kernel


@pytest.fixture(scope="module")
def no_links(build_dir: Path) -> Iterator[NoLinkAttachments]:
    require_kernel()
    with attached_without_links(build_dir, "k") as made:
        yield made


@pytest.fixture
def perf() -> Iterator[PerfAttachment]:
    require_kernel()
    with attached_to_perf_event() as made:
        yield made


def test_netlink_lists_xdp_and_tc_as_bpftool_net_does(no_links: NoLinkAttachments) -> None:
    net = scan_net_attachments()
    assert net.error is None
    (iface,) = [i for i in net.interfaces if i.ifindex == no_links.ifindex]
    assert (iface.name, iface.xdp) == (no_links.ifname, ((no_links.xdp_id, "generic"),))
    tc = {f.direction: f for f in net.tc if f.ifindex == no_links.ifindex}
    assert set(tc) == {"ingress", "egress"}
    assert all(f.prog_id == no_links.tc_id and f.direct_action for f in tc.values())
    assert "att_tc" in tc["ingress"].name  # TCA_BPF_NAME, as tc and bpftool show it
    (bpftool,) = bpftool_json("net", "-j")  # type: ignore[misc]
    theirs_xdp = [(x["id"], x["mode"]) for x in bpftool["xdp"] if x["ifindex"] == no_links.ifindex]
    assert theirs_xdp == [(p, m) for p, m in iface.xdp]
    theirs_tc = {x["kind"]: x["id"] for x in bpftool["tc"] if x["ifindex"] == no_links.ifindex}
    assert theirs_tc == {f"clsact/{d}": f.prog_id for d, f in tc.items()}


def test_cgroup_tree_query_finds_prog_attach(no_links: NoLinkAttachments) -> None:
    found = scan_cgroup_programs(attach_types_for([8]))  # CGroupSKB's attach types
    mine = [c for c in found if c.path == no_links.cgroup_path]
    assert [(c.prog_id, c.cgroup_id, c.attach_type) for c in mine] == [
        (no_links.cgroup_prog_id, no_links.cgroup_id, "cgroup_inet_ingress")
    ], found
    tree = bpftool_json("cgroup", "tree", "-j")
    assert isinstance(tree, list)
    if not any(cg["programs"] for cg in tree):
        # Debian bookworm's bpftool (7.1) on Linux 5.10 lists no program at all (seen in the
        # kernel matrix) while the kernel answers our query: nothing to compare with there
        return
    theirs = [
        (p["id"], p["attach_type"])
        for cg in tree
        if cg["cgroup"] == no_links.cgroup_path
        for p in cg["programs"]
    ]
    assert theirs == [(c.prog_id, c.attach_type) for c in mine]


def test_no_cgroup_programs_no_walk() -> None:
    """Only the attach types the loaded programs' types can use are asked: none, nothing."""
    assert attach_types_for([1, 6]) == []  # SocketFilter, XDP
    assert scan_cgroup_programs([]) == []


def test_each_program_has_its_attachments_once(
    no_links: NoLinkAttachments, link_fixture: LinkFixture
) -> None:
    snap = take_snapshot("/nonexistent")
    ifname, cg = no_links.ifname, no_links.cgroup_path
    assert attachments_of(snap, no_links.xdp_id) == [
        Attachment(no_links.xdp_id, "netlink", "xdp", f"{ifname} xdpgeneric",
                   f"xdpgeneric {ifname}", attach_type="xdp", ifindex=no_links.ifindex,
                   ifname=ifname, mode="generic")
    ]  # fmt: skip
    tc = attachments_of(snap, no_links.tc_id)
    assert [(a.mechanism, a.kind, a.target, a.mode) for a in tc] == [
        ("netlink", "tc", f"{ifname} tc ingress", "ingress"),
        ("netlink", "tc", f"{ifname} tc egress", "egress"),
    ]
    (cgroup,) = attachments_of(snap, no_links.cgroup_prog_id)
    assert (cgroup.mechanism, cgroup.kind, cgroup.attach_type, cgroup.cgroup_path) == (
        "cgroup", "cgroup", "cgroup_inet_ingress", cg
    )  # fmt: skip
    assert cgroup.target == f"{cg} cgroup_inet_ingress"
    # The labels top and attachPoint show
    assert attach_labels(snap, no_links.xdp_id) == [f"xdpgeneric {ifname}"]
    assert attach_labels(snap, no_links.tc_id) == [f"tc ingress {ifname}", f"tc egress {ifname}"]
    assert attach_labels(snap, no_links.cgroup_prog_id) == [f"cgroup cgroup_inet_ingress {cg}"]
    # Attachments a link made show in netlink and the cgroup query too: once, as the link,
    # with the XDP mode netlink reported.
    xdp_link = snap.link(link_fixture.xdp_link_id)
    (linked,) = attachments_of(snap, xdp_link.prog_id)
    assert (linked.mechanism, linked.link_id, linked.ifname) == (
        "link", link_fixture.xdp_link_id, link_fixture.devname
    )  # fmt: skip
    assert linked.mode in ("driver", "generic")
    assert linked.label == f"xdp {link_fixture.devname}"  # links' labels are unchanged
    cg_link = snap.link(link_fixture.cgroup_link_id)
    on_root = [a for a in attachments_of(snap, cg_link.prog_id)
               if a.cgroup_path == link_fixture.cgroup_path]  # fmt: skip
    assert [(a.mechanism, a.link_id) for a in on_root] == [("link", link_fixture.cgroup_link_id)]
    # Computed once per snapshot
    assert all_attachments(snap) is all_attachments(snap)


def test_perf_event_attachment_names_its_tracepoint_and_process(perf: PerfAttachment) -> None:
    snap = take_snapshot("/nonexistent")
    mine = [a for a in attachments_of(snap, perf.prog_id) if a.pid == perf.pid]
    assert [(a.mechanism, a.kind, a.attach_type, a.target) for a in mine] == [
        ("perf_event", "tracepoint", "tracepoint", perf.tracepoint)
    ]
    assert attach_labels(snap, perf.prog_id) == [f"tracepoint {perf.tracepoint}"]
    theirs = bpftool_json("perf", "-j")
    assert isinstance(theirs, list)
    assert {"pid": perf.pid, "fd": perf.fd, "prog_id": perf.prog_id, "fd_type": "tracepoint",
            "tracepoint": perf.tracepoint} in theirs  # fmt: skip


def test_a_perf_link_is_one_attachment_with_its_tracepoint() -> None:
    """A perf link (BPF_LINK_CREATE on a perf event, 5.15+) shows in the link list and its
    event in the process's fds: one attachment, the link's, named by the event's tracepoint
    (the link's info does not name it before 6.6) and the process holding the event."""
    require_kernel()
    try:
        made = attached_to_perf_event(with_link=True)
        perf = made.__enter__()
    except BPFError as e:  # before 5.15: no perf links; nothing else to check here
        assert e.errno in (errno.EINVAL, errno.EOPNOTSUPP, 524)  # 524: the kernel's ENOTSUPP
        return
    try:
        snap = take_snapshot("/nonexistent")
        found = [a for a in attachments_of(snap, perf.prog_id) if a.pid == perf.pid]
        assert [(a.mechanism, a.link_id, a.kind, a.target) for a in found] == [
            ("link", perf.link_id, "tracepoint", perf.tracepoint)
        ]
        assert len(attachments_of(snap, perf.prog_id)) == 1
    finally:
        made.__exit__(None, None, None)


def test_filters_of_a_classful_qdisc(no_links: NoLinkAttachments) -> None:
    """A bpf filter on a classful root qdisc (`tc qdisc add ... root handle 1: htb`) is an
    egress attachment, named with its qdisc; bpftool lists it as kind `htb`."""
    ifname, peer = f"dvh{os.getpid()}", f"dvi{os.getpid()}"
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True)  # noqa: E731
    run("ip", "link", "add", ifname, "type", "veth", "peer", "name", peer)
    try:
        made = subprocess.run(["tc", "qdisc", "add", "dev", ifname, "root", "handle", "1:", "htb"],
                              capture_output=True, text=True)  # fmt: skip
        if made.returncode and "unknown" in made.stderr.lower():
            pytest.skip(f"this kernel has no htb qdisc (sch_htb): {made.stderr.strip()}")
        assert made.returncode == 0, made.stderr
        run("tc", "filter", "add", "dev", ifname, "parent", "1:", "bpf", "da", "pinned",
            no_links.obj.prog_pin("att_tc"))  # fmt: skip
        snap = take_snapshot("/nonexistent")
        found = [a for a in attachments_of(snap, no_links.tc_id) if a.ifname == ifname]
        assert [(a.mechanism, a.kind, a.mode, a.target) for a in found] == [
            ("netlink", "tc", "egress", f"{ifname} tc egress (htb 1:)")
        ]
        (theirs,) = bpftool_json("net", "-j")  # type: ignore[misc]
        assert {(x["kind"], x["id"]) for x in theirs["tc"] if x["devname"] == ifname} >= {
            ("htb", no_links.tc_id)
        }
    finally:
        subprocess.run(["ip", "link", "del", ifname], check=False, capture_output=True)


def test_interfaces_of_other_network_namespaces(build_dir: Path) -> None:
    """XDP and tc on an interface of another network namespace (a container's, here an `ip
    netns`) show, with that namespace's name: read from a thread that joined it."""
    require_kernel()
    with attached_in_netns(build_dir, "n") as made:
        snap = take_snapshot("/nonexistent")
        xdp_id, tc_id = made.obj.prog_ids["att_xdp"], made.obj.prog_ids["att_tc"]
        (xdp,) = attachments_of(snap, xdp_id)
        assert (xdp.mechanism, xdp.kind, xdp.ifname, xdp.mode, xdp.netns) == (
            "netlink", "xdp", made.ifname, "generic", made.netns
        )  # fmt: skip
        assert xdp.target == f"{made.ifname} xdpgeneric (netns {made.netns})"
        (tc,) = attachments_of(snap, tc_id)
        assert (tc.kind, tc.ifname, tc.mode, tc.netns) == ("tc", made.ifname, "ingress", made.netns)
        assert attach_labels(snap, tc_id) == [f"tc ingress {made.ifname} (netns {made.netns})"]
        # bpftool sees them there too
        (theirs,) = bpftool_json_in(made.netns, "net")
        assert [x["id"] for x in theirs["xdp"]] == [xdp_id]
        assert [x["id"] for x in theirs["tc"]] == [tc_id]
    assert attachments_of(take_snapshot("/nonexistent"), xdp_id) == []  # all undone


def bpftool_json_in(netns: str, *args: str) -> Any:
    out = subprocess.run(["ip", "netns", "exec", netns, "bpftool", "-j", *args],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out)


def test_tcx_where_the_kernel_has_it(no_links: NoLinkAttachments) -> None:
    """A tcx link on the test's interface shows once, as the link, with its direction;
    before 6.6 the kernel refuses tcx (EINVAL) and the query answers nothing."""
    prog = open_pinned(no_links.obj.prog_pin("att_tc"))
    try:
        link = create_link(prog.fd, no_links.ifindex, ATTACH_TYPES.index("tcx_ingress"))
    except BPFError as e:
        prog.close()
        assert e.errno == errno.EINVAL
        assert list_tcx([no_links.ifindex]) == []
        return
    try:
        (tcx,) = list_tcx([no_links.ifindex])
        assert (tcx.prog_id, tcx.direction) == (no_links.tc_id, "ingress")
        assert tcx.link_id > 0
        snap = take_snapshot("/nonexistent")
        found = [a for a in attachments_of(snap, no_links.tc_id) if a.kind == "tcx"]
        assert [(a.mechanism, a.link_id, a.mode, a.target) for a in found] == [
            ("link", tcx.link_id, "ingress", f"{no_links.ifname} tcx ingress")
        ]
    finally:
        link.close()
        prog.close()


def test_pid_of_this_process_is_real(perf: PerfAttachment) -> None:
    """The perf event's fd is really ours (guards the test's own setup)."""
    assert os.readlink(f"/proc/self/fd/{perf.fd}") == "anon_inode:[perf_event]"
