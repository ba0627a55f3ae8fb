"""Programs attached the ways that make no bpf link, for the attachment tests (issue 22 item
1): XDP set with `ip link ... xdpgeneric pinned` and tc filters added with `tc filter add ...
bpf da pinned` (both netlink) on a veth pair of the test's own, a cgroup_skb program
attached with `bpftool cgroup attach` (BPF_PROG_ATTACH) to a cgroup the test creates, and a
tracepoint program attached to a perf event this process holds (perf_event_open +
PERF_EVENT_IOC_SET_BPF). Each is undone on the way out, failure or not: the interface
deleted (its XDP program, qdisc and filters go with it), the cgroup program detached and
the cgroup removed, the perf event closed, the private bpffs unmounted.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from devagent.bpf.cgroups import cgroup2_mount
from devagent.bpf.progs import load_program, return_imm
from tests.conftest import BpffsMount, LoadedObject, build_bpf, load_object


@dataclass
class NoLinkAttachments:
    """What attached_without_links made: program ids, the interface and the cgroup."""

    obj: LoadedObject
    ifname: str
    ifindex: int
    cgroup_path: str
    cgroup_id: int  # the inode of the cgroup's directory

    @property
    def xdp_id(self) -> int:
        return self.obj.prog_ids["att_xdp"]

    @property
    def tc_id(self) -> int:
        return self.obj.prog_ids["att_tc"]

    @property
    def cgroup_prog_id(self) -> int:
        return self.obj.prog_ids["att_cgroup"]


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@contextmanager
def attached_without_links(build_dir: Path, tag: str) -> Iterator[NoLinkAttachments]:
    """tests/bpf/attach.bpf.c loaded and attached through netlink and BPF_PROG_ATTACH. `tag`
    (a letter or two) keeps the interface and cgroup names of two users apart."""
    obj_file = build_bpf("attach.bpf.o", build_dir)
    cg_root = cgroup2_mount()
    assert cg_root is not None, "no cgroup2 mount: cgroup attachments cannot be tested"
    ifname, peer = f"dva{tag}{os.getpid()}", f"dvb{tag}{os.getpid()}"
    cgroup = Path(cg_root) / f"devagent-attach-{tag}-{os.getpid()}"
    with ExitStack() as undo:
        mount = BpffsMount()
        undo.callback(mount.close)
        obj = load_object(obj_file, mount)
        subprocess.run(["ip", "link", "del", ifname], check=False, capture_output=True)
        _run("ip", "link", "add", ifname, "type", "veth", "peer", "name", peer)
        undo.callback(subprocess.run, ["ip", "link", "del", ifname], check=False)
        _run("ip", "link", "set", "dev", ifname, "xdpgeneric", "pinned", obj.prog_pin("att_xdp"))
        _run("tc", "qdisc", "add", "dev", ifname, "clsact")
        for direction in ("ingress", "egress"):
            _run("tc", "filter", "add", "dev", ifname, direction, "bpf", "da", "pinned",
                 obj.prog_pin("att_tc"))  # fmt: skip
        cgroup.mkdir()
        undo.callback(cgroup.rmdir)
        pin = obj.prog_pin("att_cgroup")
        _run("bpftool", "cgroup", "attach", str(cgroup), "ingress", "pinned", pin)
        undo.callback(
            subprocess.run,
            ["bpftool", "cgroup", "detach", str(cgroup), "ingress", "pinned", pin],
            check=False,
        )
        yield NoLinkAttachments(
            obj, ifname, socket.if_nametoindex(ifname), str(cgroup), cgroup.stat().st_ino
        )


# ---------------------------------------------------------------- a perf event

_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}.get(os.uname().machine, 298)
PERF_TYPE_TRACEPOINT = 2
PERF_FLAG_FD_CLOEXEC = 8
PERF_EVENT_IOC_SET_BPF = 0x40042408  # _IOW('$', 8, __u32)
TRACEPOINT = ("raw_syscalls", "sys_enter")


@dataclass
class PerfAttachment:
    """A TracePoint program attached to a tracepoint perf event held at `fd` by `pid`
    (through a perf link where link_id is set)."""

    prog_id: int
    pid: int
    fd: int
    tracepoint: str
    link_id: int | None = None


def _tracepoint_id(category: str, name: str) -> int:
    for tracing in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        path = Path(tracing) / "events" / category / name / "id"
        if path.exists():
            return int(path.read_text())
    # tracefs stays mounted afterwards: others may use it too
    subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"], check=True)
    return int((Path("/sys/kernel/tracing/events") / category / name / "id").read_text())


@contextmanager
def attached_to_perf_event(with_link: bool = False) -> Iterator[PerfAttachment]:
    """A TracePoint program (r0 = 0) on raw_syscalls:sys_enter, CPU 0, through a perf event
    of this process: the kind of attachment only BPF_TASK_FD_QUERY over /proc finds. With
    `with_link`, through a perf link (BPF_LINK_CREATE on the event, 5.15+) instead of the
    PERF_EVENT_IOC_SET_BPF ioctl."""
    from devagent.bpf.links import create_link
    from devagent.bpf.names import ATTACH_TYPES
    from devagent.bpf.objects import link_info, program_info

    libc = ctypes.CDLL(None, use_errno=True)
    attr = bytearray(128)  # struct perf_event_attr, PERF_ATTR_SIZE_VER5 and zeroes
    struct.pack_into("=IIQQ", attr, 0, PERF_TYPE_TRACEPOINT, 112, _tracepoint_id(*TRACEPOINT), 1)
    buf = ctypes.create_string_buffer(bytes(attr), len(attr))
    with load_program(5, return_imm(0), name="att_perf") as prog:  # BPF_PROG_TYPE_TRACEPOINT
        fd = libc.syscall(_PERF_EVENT_OPEN, buf, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "perf_event_open")
        try:
            prog_id = program_info(prog).id
            if not with_link:
                fcntl.ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog.fd)
                yield PerfAttachment(prog_id, os.getpid(), fd, TRACEPOINT[1])
                return
            with create_link(prog.fd, fd, ATTACH_TYPES.index("perf_event")) as link:
                link_id = link_info(link).id
                yield PerfAttachment(prog_id, os.getpid(), fd, TRACEPOINT[1], link_id)
        finally:
            os.close(fd)


@dataclass
class NetnsAttachments:
    """XDP and a tc filter on an interface inside a network namespace of the test's own."""

    obj: LoadedObject
    netns: str  # its `ip netns` name
    ifname: str  # the interface inside it


@contextmanager
def attached_in_netns(build_dir: Path, tag: str) -> Iterator[NetnsAttachments]:
    """tests/bpf/attach.bpf.c's XDP program (generic) and tc program (clsact ingress) on the
    end of a veth pair that lives in a new `ip netns`: what a container's interface looks
    like to the agent. Deleting the namespace deletes the pair and what is attached."""
    obj_file = build_bpf("attach.bpf.o", build_dir)
    netns = f"devagent-{tag}-{os.getpid()}"
    outside, inside = f"dvc{tag}{os.getpid()}", f"dvd{tag}{os.getpid()}"
    with ExitStack() as undo:
        mount = BpffsMount()
        undo.callback(mount.close)
        obj = load_object(obj_file, mount)
        _run("ip", "netns", "add", netns)
        undo.callback(subprocess.run, ["ip", "netns", "del", netns], check=False)
        _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", netns)
        undo.callback(subprocess.run, ["ip", "link", "del", outside], check=False)
        _run("ip", "-n", netns, "link", "set", "dev", inside, "xdpgeneric", "pinned",
             obj.prog_pin("att_xdp"))  # fmt: skip
        _run("tc", "-n", netns, "qdisc", "add", "dev", inside, "clsact")
        _run("tc", "-n", netns, "filter", "add", "dev", inside, "ingress", "bpf", "da", "pinned",
             obj.prog_pin("att_tc"))  # fmt: skip
        yield NetnsAttachments(obj, netns, inside)
