"""Mutations against a real `phydev server --allow-writes`, each verified by reading the kernel
back; every failure must leave the map unchanged and name the problem."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import pytest

from devagent.bpf.maps import possible_cpus
from devagent.bpf.pins import open_pinned
from tests.conftest import PhydevServer, bpftool_json
from tests.e2e.conftest import OwnMaps
from tests.e2e.test_graphql_server import data

UPDATE = """mutation UpdateMapValue($mapId: Int!, $key: String!, $cpu: Int, $value: String!,
    $keyFormat: MapEntryFormat!, $valueFormat: MapEntryFormat!) {
  updateMapValue(mapId: $mapId, key: $key, cpu: $cpu, value: $value, keyFormat: $keyFormat,
                 valueFormat: $valueFormat) { error }
}"""
CREATE = """mutation CreateMapValue($mapId: Int!, $key: String!, $values: [String!]!,
    $keyFormat: MapEntryFormat!, $valueFormat: MapEntryFormat!) {
  createMapValue(mapId: $mapId, key: $key, values: $values, keyFormat: $keyFormat,
                 valueFormat: $valueFormat) { error }
}"""
DELETE = """mutation DeleteMapValues($mapId: Int!, $keys: [String!]!, $keyFormat: MapEntryFormat!) {
  deleteMapValues(mapId: $mapId, keys: $keys, keyFormat: $keyFormat) { error }
}"""
PIN = """mutation Pin($id: Int!, $path: String!) { pinMap(id: $id, path: $path) { error } }"""


@pytest.fixture(scope="module")
def writer(own_maps: OwnMaps) -> Iterator[PhydevServer]:
    server = PhydevServer("--allow-writes", bpf_dir=own_maps.bpf_dir)
    server.wait_ready()
    yield server
    server.stop()


def kernel_value(own_maps: OwnMaps, name: str, key: bytes) -> bytes | None:
    with own_maps.handle(name) as handle:
        return handle.lookup(key)


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def run(server: PhydevServer, query: str, **variables: object) -> str | None:
    result = data(server, query, variables)
    (payload,) = result.values()
    return payload["error"]  # type: ignore[no-any-return]


def test_update_plain_map(writer: PhydevServer, own_maps: OwnMaps) -> None:
    map_id = own_maps.id("t_hash")
    err = run(writer, UPDATE, mapId=map_id, key="37", value="123456", keyFormat="NUMBER",
              valueFormat="NUMBER")  # fmt: skip
    assert err is None
    assert kernel_value(own_maps, "t_hash", u32(37)) == u64(123456)
    err = run(writer, UPDATE, mapId=map_id, key="25000000", value="ff", keyFormat="HEX",
              valueFormat="HEX")  # fmt: skip
    assert err is None
    assert kernel_value(own_maps, "t_hash", u32(37)) == b"\xff" + bytes(7)
    # The change is visible to the next read through the API at once.
    query = (
        "query($id:Int!){ map(id:$id) { entries(offset: 0, limit: 100, keyFormat: NUMBER, "
        "valueFormat: HEX) { key value } } }"
    )
    page = data(writer, query, {"id": map_id})
    assert {"key": "37", "value": "ff00000000000000"} in page["map"]["entries"]


@pytest.mark.parametrize(
    ("key", "key_format", "value", "value_format", "cpu", "says"),
    [
        ("5", "NUMBER", "1", "NUMBER", None, "is not in map"),
        ("1234567890", "HEX", "1", "NUMBER", None, "is 5 bytes, the field holds 4"),
        ("37", "NUMBER", "1", "NUMBER", 0, "cpu applies only to per-CPU maps"),
        ("37", "NUMBER", "x1", "NUMBER", None, "'x1' is not a decimal integer"),
        ("37", "NUMBER", "1", "BTF", None, "has no BTF type for its values"),
        ("toolongforfour", "STRING", "1", "NUMBER", None, "is 14 bytes, the field holds 4"),
    ],
)
def test_update_errors_change_nothing(
    writer: PhydevServer,
    own_maps: OwnMaps,
    key: str,
    key_format: str,
    value: str,
    value_format: str,
    cpu: int | None,
    says: str,
) -> None:
    before = bpftool_json("map", "dump", "id", str(own_maps.id("t_hash")))
    err = run(writer, UPDATE, mapId=own_maps.id("t_hash"), key=key, cpu=cpu, value=value,
              keyFormat=key_format, valueFormat=value_format)  # fmt: skip
    assert err is not None and says in err
    assert bpftool_json("map", "dump", "id", str(own_maps.id("t_hash"))) == before


def test_update_per_cpu_changes_one_cpu(writer: PhydevServer, own_maps: OwnMaps) -> None:
    ncpus = possible_cpus()
    map_id = own_maps.id("t_pcpu")
    before = kernel_value(own_maps, "t_pcpu", u32(2))
    assert before is not None
    err = run(writer, UPDATE, mapId=map_id, key="2", cpu=ncpus - 1, value="777",
              keyFormat="NUMBER", valueFormat="NUMBER")  # fmt: skip
    assert err is None
    after = kernel_value(own_maps, "t_pcpu", u32(2))
    assert after is not None
    slots = [after[c * 8 : c * 8 + 8] for c in range(ncpus)]
    assert slots[ncpus - 1] == u64(777)
    assert slots[:-1] == [before[c * 8 : c * 8 + 8] for c in range(ncpus - 1)]
    for cpu, says in ((None, "is per-CPU: give the cpu"), (ncpus, f"cpu {ncpus} is out of range"),
                      (-1, "cpu -1 is out of range")):  # fmt: skip
        err = run(writer, UPDATE, mapId=map_id, key="2", cpu=cpu, value="1",
                  keyFormat="NUMBER", valueFormat="NUMBER")  # fmt: skip
        assert err is not None and says in err
    assert kernel_value(own_maps, "t_pcpu", u32(2)) == after


def test_create_map_value(writer: PhydevServer, own_maps: OwnMaps) -> None:
    map_id = own_maps.id("t_str")
    err = run(writer, CREATE, mapId=map_id, key="postgres", values=["42"], keyFormat="STRING",
              valueFormat="NUMBER")  # fmt: skip
    assert err is None
    assert kernel_value(own_maps, "t_str", b"postgres".ljust(16, b"\0")) == u64(42)
    err = run(writer, CREATE, mapId=map_id, key="postgres", values=["1"], keyFormat="STRING",
              valueFormat="NUMBER")  # fmt: skip
    assert err is not None and "already exists" in err
    assert kernel_value(own_maps, "t_str", b"postgres".ljust(16, b"\0")) == u64(42)
    err = run(writer, CREATE, mapId=map_id, key="redis", values=["1", "2"], keyFormat="STRING",
              valueFormat="NUMBER")  # fmt: skip
    assert err is not None and "give exactly 1 value, got 2" in err
    assert kernel_value(own_maps, "t_str", b"redis".ljust(16, b"\0")) is None


def test_create_per_cpu_needs_one_value_per_cpu(writer: PhydevServer, own_maps: OwnMaps) -> None:
    ncpus = possible_cpus()
    map_id = own_maps.id("t_pcpu")
    err = run(writer, CREATE, mapId=map_id, key="100", values=["5"], keyFormat="NUMBER",
              valueFormat="NUMBER")  # fmt: skip
    if ncpus > 1:
        assert err is not None and f"give exactly {ncpus} values, got 1" in err
        assert kernel_value(own_maps, "t_pcpu", u32(100)) is None
    values = [str(100 + c) for c in range(ncpus)]
    err = run(writer, CREATE, mapId=map_id, key="100", values=values, keyFormat="NUMBER",
              valueFormat="NUMBER")  # fmt: skip
    assert err is None
    assert kernel_value(own_maps, "t_pcpu", u32(100)) == b"".join(
        u64(100 + c) for c in range(ncpus)
    )


def test_delete_is_all_or_nothing(writer: PhydevServer, own_maps: OwnMaps) -> None:
    map_id = own_maps.id("t_hash")
    present = [u32(i * 37 % 1000) for i in (2, 3)]
    assert all(kernel_value(own_maps, "t_hash", k) is not None for k in present)
    err = run(writer, DELETE, mapId=map_id, keys=["74", "111", "998"], keyFormat="NUMBER")
    assert err is not None and "key '998' is not in map" in err and "nothing was deleted" in err
    assert all(kernel_value(own_maps, "t_hash", k) is not None for k in present)
    err = run(writer, DELETE, mapId=map_id, keys=["74", "111"], keyFormat="NUMBER")
    assert err is None
    assert all(kernel_value(own_maps, "t_hash", k) is None for k in present)
    err = run(writer, DELETE, mapId=own_maps.id("t_array"), keys=["0"], keyFormat="NUMBER")
    assert err is not None and "entries of Array maps cannot be deleted" in err


def test_unknown_map_is_an_error_field(writer: PhydevServer) -> None:
    err = run(writer, DELETE, mapId=4_000_000, keys=["1"], keyFormat="NUMBER")
    assert err == "map 4000000 not found"


def test_pin_map_confined_to_bpf_dir(writer: PhydevServer, own_maps: OwnMaps) -> None:
    map_id = own_maps.id("t_array")
    root = own_maps.bpf_dir
    refusals = {
        "../escape": "must not contain '..'",
        "sub/../../escape": "must not contain '..'",
        "/etc/phydev-pin": "outside the bpffs directory",
        f"{root}/t_hash": "already exists: pins are never overwritten",
        f"{root}/missing/dir/pin": "does not exist",
        "": "empty",
    }
    for path, says in refusals.items():
        err = run(writer, PIN, id=map_id, path=path)
        assert err is not None and says in err, (path, err)
    assert not os.path.exists("/etc/phydev-pin") and not os.path.exists(f"{root}/../escape")
    assert run(writer, PIN, id=map_id, path=f"{root}/array_pin") is None
    assert run(writer, PIN, id=map_id, path=f"{root}//./array_pin_abs") is None
    for pin in ("array_pin", "array_pin_abs"):
        with open_pinned(f"{root}/{pin}") as fd:
            from devagent.bpf.objects import map_info

            assert map_info(fd).id == map_id
    shown = bpftool_json("map", "show", "pinned", f"{root}/array_pin")
    assert isinstance(shown, dict) and shown["id"] == map_id


def test_pin_map_refuses_relative_paths(writer: PhydevServer, own_maps: OwnMaps) -> None:
    """A relative path was pinned under --bpf_dir; the Go agent refused it (a path relative
    to what?): refused, naming the problem, and nothing is created anywhere."""
    root = own_maps.bpf_dir
    before = sorted(os.listdir(root))
    for path in ("rel_pin", "./rel_pin", "sub/rel_pin", "t_hash"):
        err = run(writer, PIN, id=own_maps.id("t_array"), path=path)
        assert err is not None and f"pin path {path!r} is relative" in err, (path, err)
        assert f"such as '{os.path.join(root, path)}'" in err and "nothing was pinned" in err
    assert sorted(os.listdir(root)) == before
    assert not os.path.lexists("rel_pin")  # nor in the test's (or the server's) working dir


def test_writes_disabled_by_default(own_agent: PhydevServer, own_maps: OwnMaps) -> None:
    before = kernel_value(own_maps, "t_array", u32(1))
    err = run(own_agent, UPDATE, mapId=own_maps.id("t_array"), key="1", value="9",
              keyFormat="NUMBER", valueFormat="NUMBER")  # fmt: skip
    assert err is not None and "writes are disabled" in err and "--allow-writes" in err
    assert kernel_value(own_maps, "t_array", u32(1)) == before
    err = run(own_agent, PIN, id=own_maps.id("t_array"), path="nope")
    assert err is not None and "writes are disabled" in err
    assert not os.path.exists(f"{own_maps.bpf_dir}/nope")


def test_duplicate_keys_are_refused_before_anything_changes(
    writer: PhydevServer, own_maps: OwnMaps
) -> None:
    """deleteMapValues(keys: ["1", "1"]) answered "no such key" yet deleted key 1."""
    map_id = own_maps.id("t_hash")
    with own_maps.handle("t_hash") as handle:
        handle.update(u32(901), u64(1))
    for keys in (["901", "901"], ["901", "0901"]):
        err = run(writer, DELETE, mapId=map_id, keys=keys, keyFormat="NUMBER")
        assert err is not None and "is given twice" in err and "nothing was deleted" in err
        assert kernel_value(own_maps, "t_hash", u32(901)) == u64(1)
    assert run(writer, DELETE, mapId=map_id, keys=["901"], keyFormat="NUMBER") is None
    assert kernel_value(own_maps, "t_hash", u32(901)) is None


def test_kernel_refusals_name_the_real_cause(writer: PhydevServer, own_maps: OwnMaps) -> None:
    """Pinning a name with a '.' and writing a frozen map said "run as root"; a full hash and
    an index past an array's end said "Argument list too long"."""
    from devagent.bpf.maps import MapHandle, create_map
    from devagent.bpf.names import MAP_TYPE_IDS
    from devagent.bpf.objects import map_info

    err = run(writer, PIN, id=own_maps.id("t_array"), path=f"{own_maps.bpf_dir}/with.dot")
    assert err is not None and "bpffs does not allow '.' in names ('with.dot')" in err
    assert "run as root" not in err
    err = run(writer, UPDATE, mapId=own_maps.id("t_array"), key="4", value="1",
              keyFormat="NUMBER", valueFormat="NUMBER")  # fmt: skip
    assert err is not None and "index 4 is past the end of the map (indexes 0 to 3)" in err
    full_fd = create_map(MAP_TYPE_IDS["Hash"], 4, 8, 2, name="t_full")
    frozen_fd = create_map(MAP_TYPE_IDS["Hash"], 4, 8, 4, name="t_frozen")
    with (
        MapHandle(full_fd, map_info(full_fd)) as full,
        MapHandle(frozen_fd, map_info(frozen_fd)) as frozen,
    ):
        full.update(u32(1), u64(1))
        full.update(u32(2), u64(2))
        err = run(writer, CREATE, mapId=full.info.id, key="3", values=["3"],
                  keyFormat="NUMBER", valueFormat="NUMBER")  # fmt: skip
        assert err is not None and "the map is full (max_entries 2)" in err
        assert full.lookup(u32(3)) is None
        frozen.update(u32(1), u64(1))
        frozen.freeze()
        for query, args in ((UPDATE, {"key": "1", "value": "5", "valueFormat": "NUMBER"}),
                            (DELETE, {"keys": ["1"]})):  # fmt: skip
            err = run(writer, query, mapId=frozen.info.id, keyFormat="NUMBER", **args)
            assert err is not None and "the map is frozen (BPF_MAP_FREEZE)" in err
            assert "run as root" not in err
        assert frozen.lookup(u32(1)) == u64(1)


def test_string_keys_shown_with_escapes_can_be_given_back(
    writer: PhydevServer, own_maps: OwnMaps
) -> None:
    """A STRING key the API shows with \\xNN (bytes that are not UTF-8) is accepted back as
    input and means the same bytes; a key whose text contains a backslash looks different."""
    map_id = own_maps.id("t_str")
    raw, lookalike = b"k\xff".ljust(16, b"\0"), b"k\\xff".ljust(16, b"\0")
    with own_maps.handle("t_str") as handle:
        handle.update(raw, u64(1))
        handle.update(lookalike, u64(2))
    query = (
        "query($id:Int!){ map(id:$id) { entries(limit: 100, keyFormat: STRING, "
        "valueFormat: NUMBER) { key value } } }"
    )
    shown = {e["key"]: e["value"] for e in data(writer, query, {"id": map_id})["map"]["entries"]}
    assert shown["k\\xff"] == "1" and shown["k\\\\xff"] == "2"
    for text, key, value in (("k\\xff", raw, 10), ("k\\\\xff", lookalike, 20)):
        err = run(writer, UPDATE, mapId=map_id, key=text, value=str(value), keyFormat="STRING",
                  valueFormat="NUMBER")  # fmt: skip
        assert err is None
        assert kernel_value(own_maps, "t_str", key) == u64(value)
    err = run(writer, DELETE, mapId=map_id, keys=["k\\xff", "k\\\\xff"], keyFormat="STRING")
    assert err is None
    assert kernel_value(own_maps, "t_str", raw) is None
    assert kernel_value(own_maps, "t_str", lookalike) is None
