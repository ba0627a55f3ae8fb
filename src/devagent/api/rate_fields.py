"""Ariadne bindables of the live view: Program rates and attach point, Query.programStats,
Query.host (the Host type).

Every rate comes from the server's WatchedSampler (model.sampler): asking for one counts as
watching, which starts (or keeps) the 1 s sampling; fields that do not ask for rates never
touch it, so an agent nobody watches reads nothing.
"""

from __future__ import annotations

from typing import Any

from ariadne import EnumType, ObjectType, QueryType

from ..bpf.features import STATUSES, Feature
from ..model.history import StatsPoint, StatsSeries
from ..model.host import HostSummary, host_summary
from ..model.map_fill import map_memlocks
from ..model.program_labels import attach_labels, attach_summary
from ..model.rates import ProgramRate, Rates
from ..model.sampler import WatchedSampler
from ..model.stats_hold import POLICIES, StatsHold
from ..model.stats_mode import ENABLE_STATS_FD, OFF, SYSCTL
from .context import RequestContext, request_context
from .nodes import ProgramNode, program_nodes


class BadArgument(ValueError):
    """An argument out of its range (the message names it); the client's error, not ours."""


def _sampler(ctx: RequestContext) -> WatchedSampler:
    assert ctx.sampler is not None, "the server wires a WatchedSampler into every request"  # noqa: S101 our invariant
    return ctx.sampler


def _latest_rates(ctx: RequestContext) -> Rates | None:
    """The latest rates, once per request (many programs ask)."""
    if ctx.rates is None:
        ctx.rates = (_sampler(ctx).latest_rates(),)
    return ctx.rates[0]


# ---------------------------------------------------------------- Program rates

program_rates = ObjectType("Program")


def _rate_field(field: str) -> Any:
    def resolve(node: ProgramNode, info: Any) -> float | None:
        if node.prog is None:
            return None
        rates = _latest_rates(request_context(info))
        rate: ProgramRate | None = rates.programs.get(node.id) if rates else None
        return None if rate is None else getattr(rate, field)

    return resolve


for _name, _field in {
    "eventsPerSecond": "events_per_second",
    "cpuPercent": "cpu_percent",
    "avgRunTimeNs": "avg_run_time_ns",
    "recursionMissesPerSecond": "recursion_misses_per_second",
}.items():
    program_rates.set_field(_name, _rate_field(_field))


@program_rates.field("attachPoint")
def resolve_attach_point(node: ProgramNode, info: Any) -> str | None:
    labels = attach_labels(request_context(info).snapshot, node.id)
    return attach_summary(labels) if labels else None


# ---------------------------------------------------------------- Query.programStats

query_rates = QueryType()


@query_rates.field("programStats")
def resolve_program_stats(
    _: None, info: Any, ids: list[int] | None = None, seconds: int | None = 300
) -> list[StatsSeries]:
    if seconds is None:  # an explicit null: the schema's default is what it stands for
        seconds = 300
    if seconds <= 0:
        raise BadArgument(f"seconds must be positive (got {seconds})")
    return _sampler(request_context(info)).series(ids, seconds)


series_type = ObjectType("ProgramStatsSeries")


@series_type.field("program")
def resolve_series_program(series: StatsSeries, info: Any) -> ProgramNode | None:
    nodes = program_nodes(request_context(info), [series.id])
    return nodes[0] if nodes else None


point_type = ObjectType("ProgramStatsPoint")
for _name, _getter in {
    "time": lambda p: p.wall_time,
    "runCount": lambda p: float(p.run_count),
    "runTimeNs": lambda p: float(p.run_time_ns),
    "eventsPerSecond": lambda p: p.events_per_second,
    "cpuPercent": lambda p: p.cpu_percent,
}.items():
    point_type.set_field(_name, lambda p, _info, g=_getter: g(p))


# ---------------------------------------------------------------- Query.host

host_type = ObjectType("Host")


@query_rates.field("host")
def resolve_host(_: None, info: Any) -> RequestContext:
    # Host fields resolve lazily from the context: counting memlock (one open per map) or
    # asking for rates (sampling) happens only for the fields a query selects. Asking for
    # the host at all is a look at run statistics (the overview, `top --agent`): on demand,
    # the stats fd is taken before any field says how statistics are collected.
    ctx = request_context(info)
    _stats_hold(ctx).watch()
    return ctx


def _summary(ctx: RequestContext, with_rates: bool) -> HostSummary:
    snap = ctx.snapshot
    return host_summary(
        _sampler(ctx).stats_status(),
        len(snap.programs) + len(snap.program_errors),
        len(snap.maps) + len(snap.map_errors),
        len(snap.links) + len(snap.link_errors),
        _latest_rates(ctx) if with_rates else None,
    )


for _name, _getter in {
    "hostname": lambda s: s.hostname,
    "kernelRelease": lambda s: s.kernel_release,
    "cpuCount": lambda s: s.cpu_count,
    "statsMode": lambda s: s.stats.mode,
    "statsDescription": lambda s: s.stats.describe("this agent"),
    "programCount": lambda s: s.programs,
    "mapCount": lambda s: s.maps,
    "linkCount": lambda s: s.links,
}.items():
    host_type.set_field(
        _name,
        lambda ctx, _info, g=_getter: g(_summary(ctx, False)),
    )
for _name, _getter in {
    "cpuPercent": lambda s: s.cpu_percent,
    "hostCpuPercent": lambda s: s.host_cpu_percent,
    "eventsPerSecond": lambda s: s.events_per_second,
}.items():
    host_type.set_field(
        _name,
        lambda ctx, _info, g=_getter: g(_summary(ctx, True)),
    )


def _stats_hold(ctx: RequestContext) -> StatsHold:
    return _sampler(ctx).stats_hold


for _name, _getter in {
    "statsPolicy": lambda h: h.policy,
    "statsHeld": lambda h: h.held,
    "statsPolicyDescription": lambda h: h.describe(),
}.items():
    host_type.set_field(_name, lambda ctx, _info, g=_getter: g(_stats_hold(ctx)))


@host_type.field("memlockBytes")
def resolve_host_memlock(ctx: RequestContext, _info: Any) -> float:
    return float(sum(map_memlocks(ctx.snapshot).values()))


@host_type.field("features")
def resolve_host_features(ctx: RequestContext, _info: Any) -> list[Feature]:
    return ctx.inventory.features()


stats_mode = EnumType("StatsMode", {m: m for m in (SYSCTL, ENABLE_STATS_FD, OFF)})
stats_policy = EnumType("StatsPolicy", {p: p for p in POLICIES})
feature_status = EnumType("FeatureStatus", {s.upper(): s for s in STATUSES})

RATE_BINDABLES = [
    program_rates,
    query_rates,
    series_type,
    point_type,
    host_type,
    stats_mode,
    stats_policy,
    feature_status,
]
__all__ = ["RATE_BINDABLES", "StatsPoint"]
