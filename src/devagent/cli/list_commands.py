"""The `inspect progs|maps|links list` commands' work, without click: the click commands
(commands.py) and the quick path (quick.py) both call these, so they print the same."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..bpf.info import ObjectError
from .output import emit_json, kernel_errors, write_out

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TypeVar

    from ..bpf.info import LinkInfo, MapInfo, ProgramInfo

    T = TypeVar("T")
    K = TypeVar("K", ProgramInfo, MapInfo, LinkInfo)


def show_listing(
    items: Sequence[T | ObjectError],
    header: list[str],
    cells: Callable[[T], list[str]],
    to_json: Callable[[T], dict[str, object]],
    as_json: bool,
) -> None:
    """Print a listing as a tab-separated table or a JSON array; an object that could not be
    read is an `ID<TAB>error` row (or `{"id", "error"}`), never a failure of the listing."""
    from .list_rows import error_cells, error_json
    from .textfmt import table

    if as_json:
        emit_json([error_json(x) if isinstance(x, ObjectError) else to_json(x) for x in items])
        return
    rows = [error_cells(x) if isinstance(x, ObjectError) else cells(x) for x in items]
    write_out(table(header, rows))


def agent_own(
    kind: str, items: Sequence[K | ObjectError], show_agent: bool
) -> tuple[Sequence[K | ObjectError], frozenset[int]]:
    """(the items to list, the ids of the agent's own among them): those are left out unless
    `show_agent` (bpf.agent_objects: the iterators of phydev processes on this host; this
    process loads none)."""
    from ..bpf.agent_objects import mark_listing

    own = mark_listing(kind, items)
    if show_agent or not own:
        return items, own
    return [x for x in items if x.id not in own], own


def with_agent_own(
    to_json: Callable[[K], dict[str, object]], own: frozenset[int]
) -> Callable[[K], dict[str, object]]:
    """`to_json` with the object's `agentOwn` (as GraphQL's field) added."""
    return lambda x: {**to_json(x), "agentOwn": x.id in own}


def list_programs(as_json: bool, show_agent: bool = False, attach: bool = False) -> None:
    """One line per program: ID Name Type Tag RunCount RunTime AvgRunTime (the agent's own
    only with `show_agent`); with `attach`, an Attach column (JSON: attachPoint and
    attachments), every attachment whatever made it (model.attachments)."""
    from ..bpf.objects import list_programs as read
    from .list_rows import PROG_HEADER, program_cells, program_json

    with kernel_errors():
        items, own = agent_own("program", read(), show_agent)
    to_json = with_agent_own(program_json, own)
    if not attach:
        show_listing(items, PROG_HEADER, program_cells, to_json, as_json)
        return
    from .list_rows import with_attachments

    with kernel_errors():
        header, cells, to_json = with_attachments(items, program_cells, to_json)
    show_listing(items, header, cells, to_json, as_json)


def list_maps(bpf_dir: str, as_json: bool, show_agent: bool = False) -> None:
    """One line per map: ID Name Type Flags IsPinned KeySize ValueSize MaxEntries."""
    from ..bpf.objects import list_maps as read
    from ..bpf.pins import scan_pins
    from .list_rows import MAP_HEADER, map_cells, map_json

    with kernel_errors():
        items, own = agent_own("map", read(), show_agent)
        pins = scan_pins(bpf_dir)

    def to_json(m: MapInfo) -> dict[str, object]:
        return map_json(m, pins)

    show_listing(
        items, MAP_HEADER, lambda m: map_cells(m, pins), with_agent_own(to_json, own), as_json
    )


def list_links(bpf_dir: str, as_json: bool, show_agent: bool = False) -> None:
    """One line per link: ID Type ProgramID Attach (the per-type attach details)."""
    from ..bpf.objects import list_links as read
    from ..bpf.pins import scan_pins
    from .list_rows import LINK_HEADER, link_cells, link_json

    with kernel_errors():
        items, own = agent_own("link", read(), show_agent)
        pins = scan_pins(bpf_dir)

    def to_json(link: LinkInfo) -> dict[str, object]:
        return link_json(link, pins)

    show_listing(items, LINK_HEADER, link_cells, with_agent_own(to_json, own), as_json)


def list_features(bpf_dir: str, as_json: bool) -> None:
    """One line per feature: Feature Status Since Detail (devagent.bpf.features)."""
    from ..bpf.errors import has_bpf_privileges, privilege_problem
    from ..bpf.features import UNAVAILABLE, probe_features
    from .list_rows import FEATURE_HEADER, feature_cells, feature_json
    from .output import fail

    rows = probe_features(bpf_dir)
    if rows[0].status == UNAVAILABLE and not has_bpf_privileges():
        fail(f"not allowed to read eBPF objects: {privilege_problem()}")
    show_listing(rows, FEATURE_HEADER, feature_cells, feature_json, as_json)
