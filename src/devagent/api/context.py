"""What every resolver of one GraphQL request shares: one snapshot, the pager, the settings,
and the request's budget (deadline, cancellation, answer bytes; see runtime.budget)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..model.inventory import Inventory
from ..model.rates import Rates
from ..model.sampler import WatchedSampler
from ..model.settings import Settings
from ..model.snapshot import Snapshot
from ..runtime.budget import RequestBudget
from .entries import EntryPager

if TYPE_CHECKING:
    from ..runtime.lanes import Lane


@dataclass
class RequestContext:
    """Built once per request: all resolvers read the same snapshot, so one response is
    consistent even while programs come and go."""

    settings: Settings
    inventory: Inventory
    pager: EntryPager
    _snapshot: Snapshot | None = None
    budget: RequestBudget | None = None
    # The server's sampler of program counters (rates, history); asking it means watching.
    sampler: WatchedSampler | None = None
    # The latest rates, fetched once per request by the first field that needs them.
    rates: tuple[Rates | None] | None = None
    # The server's bound on test runs at once (api.test_run); None: no bound (tests' contexts).
    test_runs: Lane | None = None

    @property
    def snapshot(self) -> Snapshot:
        # Taken on first use (single-flight and max-age live in the Inventory), then kept.
        if self._snapshot is None:
            self._snapshot = self.inventory.snapshot()
        return self._snapshot


def request_context(info: Any) -> RequestContext:
    """The RequestContext of a resolver's GraphQLResolveInfo. Every resolver that does real
    work comes through here, so this is where a request past its deadline, or whose client
    went away, stops (QueryAborted)."""
    ctx = info.context
    assert isinstance(ctx, RequestContext)  # noqa: S101 narrowing: api.http always passes one
    if ctx.budget is not None:
        ctx.budget.check()
    return ctx
