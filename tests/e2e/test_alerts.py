"""deploy/prometheus/rules.yml loaded by a real Prometheus that scrapes a real agent: the
recording rules evaluate on real samples and an alert fires on purpose for a real map that is
95 % full (and an --etm export that is truncated on purpose).

A real `for: 10m` cannot be waited for here: the rule file is derived from the shipped one in
this test, with only the `for:` durations shortened to 1s (promtool's unit tests,
tests/unit/test_prometheus_rules.py, prove the real durations). Everything else is the file
as shipped.
"""

from __future__ import annotations

import json
import os
import struct
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from devagent.bpf.handles import Fd
from devagent.bpf.maps import MapHandle, create_map
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.objects import map_info
from tests.conftest import ROOT, PacketFixture, PhydevServer
from tests.e2e.conftest import OwnMaps
from tests.prometheus_server import Prometheus, launch_prometheus

RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
FULL_MAX, FULL_USED, ETM_MAX = 20, 19, 5


def rules_with_short_for(text: str, duration: str = "1s") -> str:
    """The shipped rules with every `for:` set to `duration` and nothing else changed."""
    doc = yaml.safe_load(text)
    changed = 0
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = duration
                changed += 1
    assert changed >= 5, "the shipped rules lost their alerts"
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture(scope="module")
def nearly_full() -> Iterator[int]:
    """A hash map with 19 of its 20 entries used (95 %), held only by this process."""
    fd = create_map(MAP_TYPE_IDS["Hash"], 4, 8, FULL_MAX, name="nearly_full")
    try:
        with MapHandle(Fd(os.dup(fd.fd)), map_info(fd)) as handle:
            for i in range(FULL_USED):
                handle.update(struct.pack("<I", i), struct.pack("<Q", i))
            yield handle.info.id
    finally:
        fd.close()


@pytest.fixture(scope="module")
def alerting(
    own_maps: OwnMaps, nearly_full: int, packet_fixture: PacketFixture
) -> Iterator[tuple[PhydevServer, Prometheus]]:
    """An agent exporting the nearly-full map with --etm capped below its size, and a
    Prometheus evaluating the shipped rules (with short `for:`) against it every second."""
    server = PhydevServer("--etm", f"{nearly_full}-{nearly_full}:.:hex",
                          "--etm-max-entries", str(ETM_MAX), bpf_dir=own_maps.bpf_dir)  # fmt: skip
    try:
        server.wait_ready()
        rules = {"rules.yml": rules_with_short_for(RULES.read_text())}
        with launch_prometheus([f"127.0.0.1:{server.port}"], rules) as prom:
            yield server, prom
    finally:
        server.stop()


def firing(prom: Prometheus, alertname: str, matcher: str) -> list[dict[str, Any]]:
    """Wait until the alert fires for the series `matcher` selects; the firing series."""
    return prom.wait_for(f'ALERTS{{alertname="{alertname}", alertstate="firing", {matcher}}}', 1)


def test_a_nearly_full_map_fires_the_alert_and_others_do_not(
    alerting: tuple[PhydevServer, Prometheus], nearly_full: int, own_maps: OwnMaps
) -> None:
    """Only hash-like maps above 90 % fire: ours at 95 % does; t_hash (40 of 64) and the
    array t_array (always full) do not. Other maps on this host may fire too (other tests
    load their own), so ours is looked for among the firing ones."""
    _, prom = alerting
    alerts = firing(prom, "DevagentEbpfMapNearlyFull", f'id="{nearly_full}"')
    mine = [a["metric"] for a in alerts if a["metric"]["id"] == str(nearly_full)]
    assert mine and mine[0]["name"] == "nearly_full" and mine[0]["type"] == "Hash"
    assert mine[0]["severity"] == "warning" and mine[0]["job"] == "devagent"
    fill = prom.series(f'devagent:ebpf_map_fill:ratio{{id="{nearly_full}"}}')
    assert [float(s["value"][1]) for s in fill] == [FULL_USED / FULL_MAX]
    quiet = {str(own_maps.id("t_hash")), str(own_maps.id("t_array"))}
    every = prom.series('ALERTS{alertname="DevagentEbpfMapNearlyFull"}')
    assert quiet.isdisjoint(a["metric"]["id"] for a in every)
    controls = prom.series(
        f'devagent:ebpf_map_fill:ratio{{id=~"{"|".join(sorted(quiet))}"}}'
    )  # fmt: skip
    assert sorted(float(s["value"][1]) for s in controls) == [40 / 64, 1.0]


def test_a_truncated_export_fires_its_alert(
    alerting: tuple[PhydevServer, Prometheus], nearly_full: int
) -> None:
    _, prom = alerting
    alerts = firing(prom, "DevagentEbpfMapExportTruncated", f'id="{nearly_full}"')
    assert alerts[0]["metric"]["name"] == "nearly_full"
    left_out = prom.series(f'devagent_ebpf_map_entry_truncated{{id="{nearly_full}"}}')
    assert [float(s["value"][1]) for s in left_out] == [FULL_USED - ETM_MAX]


def test_every_rule_evaluates_cleanly_on_real_samples(
    alerting: tuple[PhydevServer, Prometheus], packet_fixture: PacketFixture
) -> None:
    """All groups loaded, no rule with an evaluation error, per-program rates recorded for
    the fixture's socket filter (traffic pumped meanwhile), the agent up and statistics on,
    so DevagentDown and DevagentEbpfRunStatsDisabled stay quiet."""
    _, prom = alerting
    prog = packet_fixture.obj.prog_ids["count_packets"]
    for _ in range(4):
        packet_fixture.pump(10)
    events = prom.wait_for(f'devagent:ebpf_prog_events:rate5m{{id="{prog}"}} > 0', 1)
    assert events[0]["metric"]["name"] == "count_packets"
    prom.wait_for(f'devagent:ebpf_prog_cpu_share:rate5m{{id="{prog}"}} > 0', 1)
    prom.wait_for('devagent:ebpf_node_events:rate5m{job="devagent"} > 0', 1)
    with urllib.request.urlopen(f"{prom.url}/api/v1/rules", timeout=10) as resp:
        groups = json.load(resp)["data"]["groups"]
    shipped = yaml.safe_load(RULES.read_text())["groups"]
    loaded = {g["name"]: [r["name"] for r in g["rules"]] for g in groups}
    assert loaded == {
        g["name"]: [r.get("alert") or r["record"] for r in g["rules"]] for g in shipped
    }
    for group in groups:
        for rule in group["rules"]:
            assert (rule["health"], rule.get("lastError", "")) == ("ok", ""), rule
    assert prom.series('ALERTS{alertname=~"DevagentDown|DevagentEbpfRunStatsDisabled"}') == []
