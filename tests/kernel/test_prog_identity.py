"""Full program names and bpf_metadata_* variables, against bpftool's `prog show`."""

from __future__ import annotations

import json
from typing import Any

from devagent.model.inventory import take_snapshot
from tests.conftest import InspectFixture, PacketFixture, bpftool_json, run_phydev


def bpftool_programs() -> dict[int, dict[str, Any]]:
    progs = bpftool_json("prog", "show")
    assert isinstance(progs, list)
    return {p["id"]: p for p in progs}


def test_full_names_are_bpftools_in_list_json(
    inspect_fixture: InspectFixture, packet_fixture: PacketFixture
) -> None:
    """`name` stays the kernel's (cut at 15 characters), `fullName` is what bpftool shows,
    for every program both saw (others come and go on a shared machine)."""
    ours = {p["id"]: p for p in json.loads(run_phydev("inspect", "progs", "list", "--json").stdout)}
    theirs = bpftool_programs()
    common = ours.keys() & theirs.keys()
    assert set(inspect_fixture.obj.prog_ids.values()) <= common
    for prog_id in common:
        assert ours[prog_id]["fullName"] == theirs[prog_id].get("name", ""), prog_id
    long_id = inspect_fixture.prog_id("inspect_socket_filter_with_a_long_name")
    assert ours[long_id]["name"] == "inspect_socket_"
    assert ours[long_id]["fullName"] == "inspect_socket_filter_with_a_long_name"
    short_id = packet_fixture.obj.prog_ids["count_packets"]
    assert ours[short_id]["fullName"] == ours[short_id]["name"] == "count_packets"
    # the contract's text listing keeps the kernel's name
    text = run_phydev("inspect", "progs", "list").stdout
    assert f"{long_id}\tinspect_socket_\tSocketFilter" in text


def test_metadata_is_bpftools(
    inspect_fixture: InspectFixture, packet_fixture: PacketFixture
) -> None:
    snap = take_snapshot(inspect_fixture.mount.path.as_posix())
    for prog_id in [
        *inspect_fixture.obj.prog_ids.values(),
        packet_fixture.obj.prog_ids["count_packets"],
    ]:
        ref = bpftool_json("prog", "show", "id", str(prog_id))
        assert isinstance(ref, dict)
        want = [
            {"key": k, "value": v if isinstance(v, str) else json.dumps(v)}
            for k, v in ref.get("metadata", {}).items()
        ]
        got = [{"key": kv.key, "value": kv.value} for kv in snap.metadata(prog_id)]
        assert got == want, prog_id
    assert snap.metadata(inspect_fixture.prog_id("inspect_tc")) and not snap.metadata(
        packet_fixture.obj.prog_ids["count_packets"]
    )


def test_show_prints_full_name_and_metadata(inspect_fixture: InspectFixture) -> None:
    prog_id = str(inspect_fixture.prog_id("inspect_socket_filter_with_a_long_name"))
    details = json.loads(run_phydev("inspect", "progs", "show", prog_id, "--json").stdout)
    assert details["fullName"] == "inspect_socket_filter_with_a_long_name"
    assert details["metadata"] == [
        {"key": "owner", "value": "phydev tests"},
        {"key": "version", "value": "7"},
    ]
    text = run_phydev("inspect", "progs", "show", prog_id).stdout
    assert "inspect_socket_filter_with_a_long_name" in text
    assert "owner = phydev tests" in text and "version = 7" in text
