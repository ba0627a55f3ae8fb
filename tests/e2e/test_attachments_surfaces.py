"""Issue 22 item 1's acceptance on every surface: programs attached without links (netlink
XDP and tc, a cgroup BPF_PROG_ATTACH; tests/attach_objects.py) show their attach points in
GraphQL (Program.attachments and attachPoint, through the fast path as through graphql-core)
of a real server, in /metrics (devagent_ebpf_prog_attachment_info), in `inspect progs list
--attach` and `progs show` (text and JSON, with memlock as bpftool prints it) and in `top
--json`, local and --agent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from ariadne import graphql_sync
from graphql import parse
from prometheus_client.parser import text_string_to_metric_families

from devagent.api import build_schema
from devagent.api.context import RequestContext
from devagent.api.entries import EntryPager
from devagent.api.fastpath import FastPath
from devagent.model.inventory import Inventory
from devagent.model.settings import Settings
from tests.attach_objects import NoLinkAttachments, attached_without_links
from tests.conftest import PhydevServer, bpftool_json, require_kernel, run_phydev
from tests.e2e.test_quick_listings import quick, through_click

ATTACHMENTS = (
    "{ programs { id attachPoint attachments { mechanism kind attachType target ifindex "
    "ifname cgroupPath pid linkId mode netns } } }"
)


@pytest.fixture(scope="module")
def no_links(build_dir: Path) -> Iterator[NoLinkAttachments]:
    require_kernel()
    with attached_without_links(build_dir, "e") as made:
        yield made


@pytest.fixture(scope="module")
def server(
    no_links: NoLinkAttachments, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PhydevServer]:
    agent = PhydevServer(bpf_dir=str(tmp_path_factory.mktemp("bpffs-none")))
    try:
        agent.wait_ready()
        yield agent
    finally:
        agent.stop()


def expected(no_links: NoLinkAttachments) -> dict[int, list[dict[str, Any]]]:
    """Program id -> its attachments as GraphQL answers them."""
    ifname, ifindex, cg = no_links.ifname, no_links.ifindex, no_links.cgroup_path
    net = {"ifindex": ifindex, "ifname": ifname, "cgroupPath": None, "pid": None, "linkId": None}
    tail = {"netns": None}
    tc = [{"mechanism": "netlink", "kind": "tc", "attachType": None,
           "target": f"{ifname} tc {d}", **net, "mode": d, **tail}
          for d in ("ingress", "egress")]  # fmt: skip
    return {
        no_links.xdp_id: [{"mechanism": "netlink", "kind": "xdp", "attachType": "xdp",
                           "target": f"{ifname} xdpgeneric", **net, "mode": "generic",
                           **tail}],
        no_links.tc_id: tc,
        no_links.cgroup_prog_id: [{
            "mechanism": "cgroup", "kind": "cgroup", "attachType": "cgroup_inet_ingress",
            "target": f"{cg} cgroup_inet_ingress", "ifindex": None, "ifname": None,
            "cgroupPath": cg, "pid": None, "linkId": None, "mode": None, **tail,
        }],
    }  # fmt: skip


def attach_points(no_links: NoLinkAttachments) -> dict[int, str]:
    ifname, cg = no_links.ifname, no_links.cgroup_path
    return {
        no_links.xdp_id: f"xdpgeneric {ifname}",
        no_links.tc_id: f"tc ingress {ifname} (+1)",
        no_links.cgroup_prog_id: f"cgroup cgroup_inet_ingress {cg}",
    }


def mine(no_links: NoLinkAttachments, rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    ids = {no_links.xdp_id, no_links.tc_id, no_links.cgroup_prog_id}
    return {row["id"]: row for row in rows if row["id"] in ids}


def test_graphql_of_a_real_server(no_links: NoLinkAttachments, server: PhydevServer) -> None:
    import urllib.request

    req = urllib.request.Request(
        server.url + "/query", data=json.dumps({"query": ATTACHMENTS}).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = json.load(resp)
    assert "errors" not in answer
    rows = mine(no_links, answer["data"]["programs"])
    assert {i: r["attachments"] for i, r in rows.items()} == expected(no_links)
    assert {i: r["attachPoint"] for i, r in rows.items()} == attach_points(no_links)
    # bpftool sees the same programs there
    (net,) = bpftool_json("net", "-j")  # type: ignore[misc]
    assert {x["id"] for x in net["xdp"] + net["tc"] if x["ifindex"] == no_links.ifindex} == {
        no_links.xdp_id, no_links.tc_id
    }  # fmt: skip


def test_the_fast_path_answers_attachments_as_graphql_core(no_links: NoLinkAttachments) -> None:
    inventory = Inventory("/nonexistent", max_age=3600)
    ctx = RequestContext(Settings(bpf_dir="/nonexistent"), inventory, EntryPager(inventory),
                         inventory.snapshot())  # fmt: skip
    schema = build_schema()
    fast = FastPath(schema, [])
    data = {"query": ATTACHMENTS}
    planned = fast.run(data, ctx, parse(ATTACHMENTS))
    assert planned is not None, "the plan fell back to graphql-core"
    _, theirs = graphql_sync(schema, data, context_value=ctx, validation_rules=[])
    assert orjson.dumps(planned[0]) == orjson.dumps(theirs)
    rows = mine(no_links, theirs["data"]["programs"])
    assert {i: r["attachments"] for i, r in rows.items()} == expected(no_links)


def test_metrics_label_every_attachment(no_links: NoLinkAttachments, server: PhydevServer) -> None:
    body, _ = server.get("/metrics")
    (family,) = [f for f in text_string_to_metric_families(body)
                 if f.name == "devagent_ebpf_prog_attachment_info"]  # fmt: skip
    ids = {str(i) for i in expected(no_links)}
    got = sorted(
        (int(s.labels["id"]), s.labels["mechanism"], s.labels["kind"], s.labels["attach_type"],
         s.labels["target"])
        for s in family.samples if s.labels["id"] in ids
    )  # fmt: skip
    want = sorted(
        (i, a["mechanism"], a["kind"], a["attachType"] or "", a["target"])
        for i, found in expected(no_links).items()
        for a in found
    )
    assert got == want
    # The contract's families keep their label sets
    run_count = [f for f in text_string_to_metric_families(body)
                 if f.name == "devagent_ebpf_prog_run_count"]  # fmt: skip
    assert {tuple(sorted(s.labels)) for s in run_count[0].samples} == {
        ("id", "name", "tag", "type")
    }


def test_cli_listing_with_attach(no_links: NoLinkAttachments) -> None:
    text = run_phydev("inspect", "progs", "list", "--attach").stdout.splitlines()
    assert text[0].split("\t") == [
        "ID", "Name", "Type", "Tag", "RunCount", "RunTime", "AvgRunTime", "Attach"
    ]  # fmt: skip
    cells = {int(line.split("\t")[0]): line.split("\t") for line in text[1:]}
    assert {i: cells[i][-1] for i in attach_points(no_links)} == attach_points(no_links)
    rows = mine(no_links, json.loads(run_phydev("inspect", "progs", "list", "--attach",
                                                "--json").stdout))  # fmt: skip
    assert {i: r["attachments"] for i, r in rows.items()} == expected(no_links)
    assert {i: r["attachPoint"] for i, r in rows.items()} == attach_points(no_links)
    # Without --attach: the contract's seven columns
    plain = run_phydev("inspect", "progs", "list").stdout.splitlines()
    assert len(plain[0].split("\t")) == 7


def test_listing_with_attach_takes_the_quick_path_and_says_what_click_says(
    no_links: NoLinkAttachments,
) -> None:
    for extra in ((), ("--json",)):
        ours, imported_click = quick("inspect", "progs", "list", "--attach", *extra)
        assert imported_click == "False"
        theirs = through_click("inspect", "progs", "list", "--attach", *extra)
        if extra:
            got, want = mine(no_links, json.loads(ours)), mine(no_links, json.loads(theirs))
            assert {i: (r["attachPoint"], r["attachments"]) for i, r in got.items()} == {
                i: (r["attachPoint"], r["attachments"]) for i, r in want.items()
            }
        else:
            cells = [{int(c[0]): c[-1] for c in (line.split("\t") for line in out.splitlines()[1:])}
                     for out in (ours, theirs)]  # fmt: skip
            assert {i: cells[0][i] for i in attach_points(no_links)} == attach_points(no_links)
            assert {i: cells[1][i] for i in attach_points(no_links)} == attach_points(no_links)


def test_cli_show_gives_attach_points_and_memlock(no_links: NoLinkAttachments) -> None:
    prog_id = no_links.tc_id
    details = json.loads(run_phydev("inspect", "progs", "show", str(prog_id), "--json").stdout)
    assert details["attachments"] == expected(no_links)[prog_id]
    theirs = bpftool_json("prog", "show", "id", str(prog_id))
    assert isinstance(theirs, dict)
    assert details["memlock"] == int(theirs["bytes_memlock"])
    text = run_phydev("inspect", "progs", "show", str(prog_id)).stdout
    lines = {line.split(None, 1)[0]: line for line in text.splitlines() if line[:1].strip()}
    assert lines["memlock"].split() == ["memlock", f"{theirs['bytes_memlock']}B"]
    assert f"{no_links.ifname} tc ingress (netlink)" in lines["attachments"]
    assert f"{no_links.ifname} tc egress (netlink)" in text


@pytest.mark.parametrize("remote", [False, True], ids=["local", "agent"])
def test_top_json_rows(no_links: NoLinkAttachments, server: PhydevServer, remote: bool) -> None:
    agent = ("--agent", server.url) if remote else ()
    out = run_phydev("top", "--json", "--count", "1", "--interval", "0.3", *agent).stdout
    (line,) = out.splitlines()
    rows = mine(no_links, json.loads(line)["programs"])
    assert {i: r["attachPoint"] for i, r in rows.items()} == attach_points(no_links)
