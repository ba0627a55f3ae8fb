"""devagent.bpf against real kernel objects: map reads equal bpftool's, writes read back."""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from devagent.bpf import handles, map_types, objects, pins, procfs, stats, tasks
from devagent.bpf import maps as bpfmaps
from devagent.bpf._sys import BPF_EXIST, BPF_NOEXIST, TaskFdQueryAttr
from devagent.bpf.btf import objects as btf_objects
from devagent.bpf.errors import AlreadyExists, InvalidArgument, NotFound, NotSupported
from devagent.bpf.info import BtfObjectInfo, ObjectError, ProgramInfo
from devagent.bpf.maps import MapHandle, create_map
from devagent.bpf.names import MAP_TYPE_IDS, PROG_TYPE_IDS
from devagent.bpf.progs import load_program, return_imm
from tests.conftest import BpffsMount, PacketFixture, bpftool_json, lacks, run_phydev

LISTABLE = ["flows", "AT_pkts", "counters", "pcpu_counters", "lru_lens", "outer", "inner",
            "jmp_table", "lpm"]  # fmt: skip


def raw(hex_bytes: object) -> bytes:
    assert isinstance(hex_bytes, list)
    return bytes(int(str(b), 16) for b in hex_bytes)


def bpftool_entries(map_id: int) -> dict[bytes, bytes | list[bytes]]:
    """bpftool's raw dump: key -> value, or key -> per-CPU values."""
    out: dict[bytes, bytes | list[bytes]] = {}
    dump = bpftool_json("map", "dump", "id", str(map_id))
    assert isinstance(dump, list)
    for entry in dump:
        if "values" in entry:
            out[raw(entry["key"])] = [raw(v["value"]) for v in entry["values"]]
        else:
            out[raw(entry["key"])] = raw(entry["value"])
    return out


def our_entries(map_id: int) -> dict[bytes, bytes | list[bytes]]:
    with MapHandle.open(map_id) as handle:
        dump = handle.read_all()
    out: dict[bytes, bytes | list[bytes]] = {}
    for i in range(dump.count):
        out[dump.key(i)] = dump.cpu_values(i) if dump.per_cpu else dump.value(i)
    return out


@pytest.mark.parametrize("name", LISTABLE)
def test_whole_map_read_equals_bpftool(packet_fixture: PacketFixture, name: str) -> None:
    map_id = packet_fixture.obj.map_ids[name]
    packet_fixture.pump(3)
    # Counters move with any stray loopback packet: compare when two reads of ours agree.
    for _ in range(5):
        first = our_entries(map_id)
        ref = bpftool_entries(map_id)
        if first == our_entries(map_id) == ref:
            break
    assert first == ref
    if name in ("flows", "AT_pkts", "counters", "lru_lens", "lpm", "jmp_table", "outer"):
        assert first, f"{name} should hold entries"


def test_per_cpu_values_have_one_slot_per_possible_cpu(packet_fixture: PacketFixture) -> None:
    with MapHandle.open(packet_fixture.obj.map_ids["AT_pkts"]) as handle:
        dump = handle.read_all()
    # The possible CPUs, as the kernel lists them (ranges such as 0-3,8-11), not the online
    # ones: a VM with hotplug slots has more possible CPUs than it runs.
    ranges = Path("/sys/devices/system/cpu/possible").read_text().strip().split(",")
    last = max(int(r.split("-")[-1]) for r in ranges)
    assert dump.per_cpu and dump.ncpus == bpfmaps.possible_cpus() == last + 1
    ipv4 = b"ipv4".ljust(16, b"\0")
    totals = {dump.key(i): sum(int.from_bytes(v, "little") for v in dump.cpu_values(i))
              for i in range(dump.count)}  # fmt: skip
    assert totals[ipv4] > 0


def test_batch_read_equals_key_by_key_read(packet_fixture: PacketFixture) -> None:
    map_id = packet_fixture.obj.map_ids["lru_lens"]
    for _ in range(5):
        with MapHandle.open(map_id) as handle:
            chunks = list(handle._read_batched())
            by_keys = handle._read_by_keys()
        batched = {k: v for chunk in chunks for k, v in chunk.items()}
        if batched == dict(by_keys.items()):
            break
    assert batched == dict(by_keys.items())
    assert sum(c.count for c in chunks) == by_keys.count > 0


@pytest.fixture
def own_mount(kernel: None) -> Iterator[BpffsMount]:
    mount = BpffsMount()
    yield mount
    mount.close()


def test_big_hash_batch_read_crosses_chunks(kernel: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """More entries than one batch holds: every entry comes back exactly once."""
    monkeypatch.setattr(bpfmaps, "BATCH_MAX_ENTRIES", 1000)
    n = 5000
    with create_map(MAP_TYPE_IDS["Hash"], 8, 8, 8192, name="t_big") as fd:
        handle = MapHandle(fd, objects.map_info(fd))
        keys = b"".join(struct.pack("<Q", i * 7919) for i in range(n))
        values = b"".join(struct.pack("<Q", i) for i in range(n))
        assert handle.update_batch(keys, values) == n
        chunks = list(handle.iter_chunks())
        assert len(chunks) >= n // 1000 and all(0 < c.count <= 1000 for c in chunks)
        dump = handle.read_all()
        assert dump.count == n == sum(c.count for c in chunks)
        assert dump.keys == b"".join(c.keys for c in chunks)
        got = {struct.unpack("<Q", k)[0]: struct.unpack("<Q", v)[0] for k, v in dump.items()}
        assert got == {i * 7919: i for i in range(n)}
        assert handle.count_entries() == n


def test_update_lookup_delete_with_flags(kernel: None) -> None:
    with create_map(MAP_TYPE_IDS["Hash"], 4, 8, 16, name="t_rw") as fd:
        handle = MapHandle(fd, objects.map_info(fd))
        key, other = struct.pack("<I", 7), struct.pack("<I", 8)
        handle.update(key, struct.pack("<Q", 1), BPF_NOEXIST)
        assert handle.lookup(key) == struct.pack("<Q", 1)
        with pytest.raises(AlreadyExists, match="t_rw"):
            handle.update(key, struct.pack("<Q", 2), BPF_NOEXIST)
        with pytest.raises(NotFound):
            handle.update(other, struct.pack("<Q", 2), BPF_EXIST)
        handle.update(key, struct.pack("<Q", 3), BPF_EXIST)
        assert handle.lookup(key) == struct.pack("<Q", 3)
        assert list(handle.iter_keys()) == [key]
        handle.delete(key)
        assert handle.lookup(key) is None
        with pytest.raises(NotFound):
            handle.delete(key)
        with pytest.raises(InvalidArgument, match="key is 2 bytes, the map's keys are 4"):
            handle.lookup(b"ab")
        with pytest.raises(InvalidArgument, match="value is 4 bytes, the map needs 8"):
            handle.update(key, b"abcd")


def test_per_cpu_update_writes_each_slot(kernel: None) -> None:
    ncpus = bpfmaps.possible_cpus()
    with create_map(MAP_TYPE_IDS["PerCPUHash"], 4, 4, 8, name="t_pcpu") as fd:
        handle = MapHandle(fd, objects.map_info(fd))
        assert handle.slot_size == 8 and handle.value_buf_size == 8 * ncpus
        value = b"".join(struct.pack("<Q", 100 + c) for c in range(ncpus))
        handle.update(b"\x01\0\0\0", value)
        dump = handle.read_all()
        assert dump.cpu_values(0) == [struct.pack("<I", 100 + c) for c in range(ncpus)]
        ref = bpftool_json("map", "dump", "id", str(handle.info.id))
        assert isinstance(ref, list)
        assert [raw(v["value"]) for v in ref[0]["values"]] == dump.cpu_values(0)


def test_unlistable_map_types_say_so(packet_fixture: PacketFixture) -> None:
    for name, type_name in (("events", "RingBuf"), ("lens_queue", "Queue")):
        with MapHandle.open(packet_fixture.obj.map_ids[name]) as handle:
            assert not map_types.is_lookup_supported(handle.info.type)
            with pytest.raises(NotSupported, match=f"{type_name} maps cannot be listed"):
                handle.read_all()
    assert map_types.is_lookup_supported(MAP_TYPE_IDS["LPMTrie"])
    assert map_types.is_lookup_supported(MAP_TYPE_IDS["ArrayOfMaps"])


def test_socket_maps_read_back_cookies_and_say_why_they_cannot(kernel: None) -> None:
    """A SockMap with 8-byte values reads back each socket's cookie; with 4-byte values the
    kernel refuses every read (ENOSPC), which must be named, not shown as 'no space left'.
    An established TCP socket: every kernel's sockmap takes those (AF_UNIX only from 5.15)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        b = socket.create_connection(server.getsockname())
        a, _ = server.accept()
    with a, b, create_map(MAP_TYPE_IDS["SockMap"], 4, 8, 4, name="t_sock8") as fd:
        handle = MapHandle(fd, objects.map_info(fd))
        handle.update(struct.pack("<I", 2), struct.pack("<Q", a.fileno()))
        assert map_types.can_list(handle.info)
        dump = handle.read_all()
        assert list(dump.items()) == [
            (struct.pack("<I", 2), a.getsockopt(socket.SOL_SOCKET, 57, 8))
        ]
    for type_name in ("SockMap", "SockHash", "ReusePortSockArray"):
        with create_map(MAP_TYPE_IDS[type_name], 4, 4, 4, name="t_sock4") as fd:
            handle = MapHandle(fd, objects.map_info(fd))
            assert not map_types.can_list(handle.info)
            with pytest.raises(NotSupported, match="values are 4 bytes, so the kernel refuses"):
                handle.read_all()
            result = run_phydev("inspect", "maps", "dump", str(handle.info.id), check=False)
            assert result.returncode == 1
            assert "8-byte socket cookies; this map's values are 4 bytes" in result.stderr


def test_vanished_object_is_a_per_object_error(kernel: None) -> None:
    fd = create_map(MAP_TYPE_IDS["Array"], 4, 4, 1, name="t_gone")
    gone_id = objects.map_info(fd).id
    fd.close()
    # The kernel frees maps asynchronously; wait until the id is really gone.
    for _ in range(200):
        try:
            objects.get_map(gone_id)
        except NotFound:
            break
    with pytest.raises(NotFound, match=f"map {gone_id}"):
        objects.get_map(gone_id)
    listed = handles.list_each(iter([gone_id]), objects.get_map, "map")
    assert len(listed) == 1 and isinstance(listed[0], ObjectError)
    assert listed[0].id == gone_id and listed[0].error.endswith("not found")
    with pytest.raises(NotFound, match="program 4000000000") as gone_program:
        objects.get_program(4_000_000_000)
    # The walks' own loop says the same as reading the object by id.
    with pytest.raises(NotFound) as gone_map:
        objects.get_map(gone_id)
    assert objects.list_maps([gone_id]) == [ObjectError(gone_id, "map", str(gone_map.value))]
    assert objects.list_programs([4_000_000_000]) == [
        ObjectError(4_000_000_000, "program", str(gone_program.value))
    ]


def test_program_with_the_most_maps_a_program_may_use(kernel: None) -> None:
    """A walk reads map ids into one reused 64-slot buffer (the kernel's MAX_USED_MAPS): a
    program using 64 maps gets every id back, as bpftool lists them, on every read."""
    maps = [create_map(MAP_TYPE_IDS["Array"], 4, 4, 1, name=f"t_many{i}") for i in range(64)]
    try:
        prog = load_program(PROG_TYPE_IDS["SocketFilter"], return_imm(0, tuple(m.fd for m in maps)))
        with prog:
            prog_id = objects.program_info(prog).id
            kernel_ids = bpftool_json("prog", "show", "id", str(prog_id))
            assert isinstance(kernel_ids, dict)
            # Twice in one walk: the second read reuses the buffer.
            listed, again = objects.list_programs([prog_id, prog_id])
            assert isinstance(listed, ProgramInfo) and again == listed
            assert sorted(listed.map_ids) == sorted(kernel_ids["map_ids"])
            assert len(listed.map_ids) == 64
    finally:
        for m in maps:
            m.close()


def test_pins_round_trip_and_index(packet_fixture: PacketFixture, own_mount: BpffsMount) -> None:
    with create_map(MAP_TYPE_IDS["Array"], 4, 4, 1, name="t_pin") as fd:
        map_id = objects.map_info(fd).id
        path = str(own_mount.path / "sub" / "t_pin")
        os.mkdir(own_mount.path / "sub")
        pins.pin_object(fd, path)
        with pytest.raises(AlreadyExists):
            pins.pin_object(fd, path)
        with pins.open_pinned(path) as again:
            assert objects.map_info(again).id == map_id
        index = pins.scan_pins(str(own_mount.path))
        assert index.maps == {map_id: [path]}
    fixture_index = pins.scan_pins(packet_fixture.bpf_dir)
    for name, prog_id in packet_fixture.obj.prog_ids.items():
        assert fixture_index.programs[prog_id] == [packet_fixture.obj.prog_pin(name)]
    assert pins.scan_pins("/nonexistent/dir").maps == {}


def test_owners_include_this_process(kernel: None) -> None:
    with create_map(MAP_TYPE_IDS["Array"], 4, 4, 1, name="t_owner") as fd:
        map_id = objects.map_info(fd).id
        owners = procfs.scan_owners()["map"][map_id]
        assert procfs.Owner(os.getpid(), procfs.read_comm(os.getpid()), fd.fd) in owners
        assert procfs.bpf_object_of_fd("self", fd.fd) == ("map", map_id)


def test_program_maps_match_kernel(packet_fixture: PacketFixture) -> None:
    prog = objects.get_program(packet_fixture.obj.prog_ids["count_packets"])
    ref = bpftool_json("prog", "show", "id", str(prog.id))
    assert isinstance(ref, dict)
    assert list(prog.map_ids) == ref["map_ids"]
    assert {packet_fixture.obj.map_ids[n] for n in ("flows", "AT_pkts", "jmp_table")} <= set(
        prog.map_ids
    )
    assert prog.run_count > 0 and prog.run_time_ns > 0
    assert prog.gpl_compatible
    assert prog.verified_insns is None if lacks("verified_insns") else prog.verified_insns > 0


def test_btf_objects_are_listed_and_readable(packet_fixture: PacketFixture) -> None:
    listed = [b for b in btf_objects.list_btf() if isinstance(b, BtfObjectInfo)]
    vmlinux = [b for b in listed if b.name == "vmlinux"]
    if not any(b.name for b in listed):
        # Before 5.11 BTF objects have no names nor kernel_btf flag, and the kernel's own
        # BTF is no object with an id (only /sys/kernel/btf/vmlinux).
        assert listed and all(b.kernel_btf is None for b in listed)
    else:
        assert vmlinux and vmlinux[0].kernel_btf
    prog = objects.get_program(packet_fixture.obj.prog_ids["count_packets"])
    data = btf_objects.read_btf_data(prog.btf_id)
    assert struct.unpack_from("<H", data)[0] == 0xEB9F


def _own_stats_fds() -> int:
    return sum(t == stats.STATS_FD for _, t in procfs.iter_fds(os.getpid()))


def test_stats_fd_turns_statistics_on(kernel: None) -> None:
    """The fd is seen as turning statistics on, though the sysctl keeps reading 0 (it reads
    back only its own setting), and closing it lets go."""
    before = _own_stats_fds()
    with stats.enable_stats():
        assert _own_stats_fds() == before + 1
        assert stats.holds_stats_fd(os.getpid())
        assert stats.stats_enabled()
    assert _own_stats_fds() == before


def test_no_task_attachments_on_this_kernel(kernel: None) -> None:
    """This kernel has no kprobes/tracepoints (CONFIG_BPF_EVENTS off), so no process can hold
    a perf-event attachment: the scan must find none and not fail."""
    assert tasks.scan_tasks() == {}


def test_task_query_decoding() -> None:
    """Decoding of a BPF_TASK_FD_QUERY answer. Synthetic attr: this kernel cannot create
    kprobe or tracepoint attachments (no CONFIG_BPF_EVENTS)."""
    attr = TaskFdQueryAttr(prog_id=42, fd_type=3, probe_offset=0x10, probe_addr=0xFFFF0000)
    task = tasks.decode_task_query(100, 7, attr, b"do_sys_open\0garbage")
    assert task == tasks.Task(100, 7, 42, 3, "do_sys_open", 0x10, 0xFFFF0000)
    assert task.type_name == "Kretprobe"
    assert tasks.query_task_fd(os.getpid(), 0) is None


def test_errno_names_the_operation(kernel: None) -> None:
    with pytest.raises(NotFound) as info:
        handles.open_map(4_000_000_000)
    assert info.value.errno == errno.ENOENT
    # The command stays on the exception; the message is the one every consumer shows for
    # an id that names no object (bpf.errors.not_found).
    assert info.value.op == "MAP_GET_FD_BY_ID" and str(info.value) == "map 4000000000 not found"
