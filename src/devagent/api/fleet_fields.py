"""`Query.fleet`: cluster-wide answers from Prometheus (model.fleet), for the UI's fleet pages
and `top --agent` in fleet mode. Each list asks Prometheus when it is selected; an answer
Prometheus cannot give becomes that list's field error (the others still answer)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ariadne import EnumType, ObjectType, QueryType

from ..model.fleet import Fleet, NoPast
from ..model.prometheus_api import PrometheusAPI, PrometheusError
from ..model.settings import Settings
from .context import request_context

NOT_CONFIGURED = (
    "no fleet: start the agent with --prometheus URL (a Prometheus-compatible API that "
    "scrapes every node's agent)"
)
MAX_LIMIT = 500
MAX_POINTS = 240

fleet_query = QueryType()
fleet_type = ObjectType("Fleet")
fleet_order = EnumType("FleetOrder", {"CPU": "cpu", "EVENTS": "events"})
fleet_metric = EnumType("FleetMetric", {"CPU": "cpu", "EVENTS": "events", "PROGRAMS": "programs"})
fleet_change = EnumType(
    "FleetChangeKind", {"APPEARED": "appeared", "VANISHED": "vanished", "COUNT": "count"}
)
MIN_CHANGE_SECONDS, MAX_CHANGE_SECONDS = 10, 30 * 86400
series_type = ObjectType("FleetSeries")


class FleetError(Exception):
    """A fleet question that cannot be answered; the message says why."""


def node_url(template: str | None) -> Any:
    """A node's agent URL from --node-url-template ({node}, {instance}), or None."""
    if not template:
        return None
    return lambda node, instance: template.replace("{node}", node).replace("{instance}", instance)


def fleet_of(settings: Settings) -> Fleet | None:
    if not settings.prometheus_url:
        return None
    api = PrometheusAPI(
        settings.prometheus_url, token=settings.prometheus_token, basic=settings.prometheus_basic
    )
    return Fleet(
        api, window=settings.fleet_rate_window, node_url=node_url(settings.node_url_template)
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _rows(items: list[Any]) -> list[dict[str, Any]]:
    return [{_camel(k): v for k, v in asdict(item).items()} for item in items]


def _ask(view: FleetView, question: Any) -> Any:
    fleet = view.fleet
    if fleet is None:
        return []
    try:
        return question(fleet)
    except (PrometheusError, NoPast) as exc:
        raise FleetError(str(exc)) from None


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise FleetError(f"limit must be 1..{MAX_LIMIT}, not {limit}")
    return limit


class FleetView:
    """What `Query.fleet` resolves to: the Fleet to ask, or None when not configured."""

    __slots__ = ("fleet",)

    def __init__(self, fleet: Fleet | None) -> None:
        self.fleet = fleet


@fleet_query.field("fleet")
def resolve_fleet(_: None, info: Any) -> FleetView:
    return FleetView(fleet_of(request_context(info).settings))


@fleet_type.field("configured")
def resolve_configured(view: FleetView, _info: Any) -> bool:
    return view.fleet is not None


@fleet_type.field("prometheus")
def resolve_prometheus(view: FleetView, _info: Any) -> str | None:
    return None if view.fleet is None else view.fleet.api.url


@fleet_type.field("error")
def resolve_error(view: FleetView, _info: Any) -> str | None:
    return NOT_CONFIGURED if view.fleet is None else None


@fleet_type.field("rateWindow")
def resolve_rate_window(view: FleetView, _info: Any) -> str | None:
    if view.fleet is None:
        return None
    return str(
        _ask(view, lambda f: f"{f.rate_window} (recording rules)" if f.recorded else f.window)
    )


@fleet_type.field("nodes")
def resolve_nodes(view: FleetView, _info: Any) -> list[dict[str, Any]]:
    return _rows(_ask(view, lambda f: f.nodes()))


@fleet_type.field("topPrograms")
def resolve_top_programs(
    view: FleetView, _info: Any, by: str = "cpu", limit: int = 20
) -> list[dict[str, Any]]:
    n = _limit(limit)
    return _rows(_ask(view, lambda f: f.top_programs(by, n)))


@fleet_type.field("fullestMaps")
def resolve_fullest_maps(view: FleetView, _info: Any, limit: int = 20) -> list[dict[str, Any]]:
    n = _limit(limit)
    return _rows(_ask(view, lambda f: f.fullest_maps(n)))


@fleet_type.field("programsWhere")
def resolve_programs_where(
    view: FleetView, _info: Any, name: str | None = None, tag: str | None = None
) -> list[dict[str, Any]]:
    if not (name or tag):
        raise FleetError("give a name (or part of one) or a tag")
    return _rows(_ask(view, lambda f: f.programs_where(name=name, tag=tag)))


@fleet_type.field("history")
def resolve_history(
    view: FleetView, _info: Any, metric: str = "cpu", seconds: int = 3600, step: int = 60
) -> list[Any]:
    if not 60 <= seconds <= 86400:
        raise FleetError(f"seconds must be 60..86400, not {seconds}")
    if step < 1 or seconds / step > MAX_POINTS:
        raise FleetError(
            f"step must be at least seconds/{MAX_POINTS} ({-(-seconds // MAX_POINTS)})"
        )
    return list(_ask(view, lambda f: f.history(metric, seconds, step)))


@fleet_type.field("changes")
def resolve_changes(
    view: FleetView, _info: Any, seconds: int = 86400, limit: int = 500
) -> list[dict[str, Any]]:
    if not MIN_CHANGE_SECONDS <= seconds <= MAX_CHANGE_SECONDS:
        raise FleetError(
            f"seconds must be {MIN_CHANGE_SECONDS}..{MAX_CHANGE_SECONDS}, not {seconds}"
        )
    n = _limit(limit)
    return _rows(_ask(view, lambda f: f.changes(seconds, n)))


@series_type.field("points")
def resolve_points(series: Any, _info: Any) -> list[dict[str, float]]:
    return [{"t": t, "v": v} for t, v in series.points]


FLEET_BINDABLES = [fleet_query, fleet_type, fleet_order, fleet_metric, fleet_change, series_type]
