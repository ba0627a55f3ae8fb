"""GraphQL over HTTP: POST with a JSON body, GET with query parameters (queries only).

One request, in order: the method and body are checked on the event loop; then, in a worker
thread (resolvers make bpf() calls and must not block the loop): the text is parsed (with a
bound on tokens), the operation picked (a GET runs queries only), its cost measured against
the list sizes of the current snapshot (api.limits), and it is validated and executed by
graphql-core under a RequestBudget (runtime.budget): a deadline, the answer-size allowance, and
cancellation when the client goes away (watched on the event loop meanwhile) or the server
stops (cancel_all). Each request gets its own RequestContext, hence one consistent snapshot.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import Any

import orjson
from ariadne import graphql_sync
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    print_ast,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ..bpf.maps import possible_cpus
from ..model.inventory import Inventory
from ..model.sampler import WatchedSampler
from ..model.settings import Settings
from ..model.snapshot import Snapshot
from ..runtime.budget import QueryAborted, RequestBudget
from ..runtime.disconnect import cancelled_if_client_leaves
from ..runtime.lanes import Lane
from ..runtime.memory import release_free_memory
from .context import RequestContext
from .entries import EntryPager
from .error_log import ErrorLog
from .fastpath import FastPath
from .limits import CostMeter, QueryRefused, check_cost, parse_query
from .list_sizes import HistoryBound, ListSizes
from .response_cache import ResponseCache, cache_key

# Ariadne would log each error with its traceback and source excerpt: ErrorLog does it.
_ARIADNE_LOG = logging.getLogger("devagent.graphql.ariadne")
_ARIADNE_LOG.addHandler(logging.NullHandler())
_ARIADNE_LOG.propagate = False
# Answers past this size give their transient memory back to the system at once.
BIG_ANSWER = 4 << 20
# Costly requests (runtime.lanes): a query text longer than this (parsing it is the
# cost), or a measured cost above this; at most COSTLY_AT_ONCE of them run at a time.
COSTLY_TEXT = 8 << 10
COSTLY_COST = 20_000
COSTLY_AT_ONCE = 2
# Test runs (api.test_run) at once: each holds a worker thread while the kernel runs it.
TEST_RUNS_AT_ONCE = 2


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)


class TooLarge(Exception):
    pass


# How much of an oversized body is read and dropped before answering 413. A client that is
# still sending when the server answers and closes gets a reset instead of the answer (Python's
# urllib does), so a body of moderate excess is drained first; a bigger one is refused unread.
DRAIN_FACTOR = 16


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes without keeping more than that.

    A body declared (or found while streaming) to be over `limit` is read on and discarded up
    to `DRAIN_FACTOR * limit` bytes so the client sees the 413; past that it is not read."""
    drain_cap = limit * DRAIN_FACTOR
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        if int(declared) <= drain_cap:
            await _drain(request, drain_cap)
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            await _drain(request, drain_cap - len(body))
            raise TooLarge
    return bytes(body)


async def _drain(request: Request, budget: int) -> None:
    async for chunk in request.stream():
        budget -= len(chunk)
        if budget < 0:
            return


class Refusal(Exception):
    """A request answered without running: HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def select_operation(document: DocumentNode, name: object) -> OperationDefinitionNode | None:
    """The operation a request would run; None when that is ambiguous or missing (graphql
    reports it)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if isinstance(name, str):
        return next((o for o in operations if o.name and o.name.value == name), None)
    return operations[0] if len(operations) == 1 else None


class GraphQLEndpoint:
    """The /query route."""

    def __init__(
        self,
        schema: GraphQLSchema,
        settings: Settings,
        inventory: Inventory,
        pager: EntryPager,
        sampler: WatchedSampler | None = None,
    ) -> None:
        self.schema = schema
        self.settings = settings
        self.inventory = inventory
        self.pager = pager
        self.sampler = sampler
        # Read queries run through plans (api.fastpath) where they cover them; validation
        # there is graphql-core's own rules, as for graphql_sync below (cost is checked
        # before both).
        self.fastpath = FastPath(schema, [])
        self.meter = CostMeter(schema, settings.max_entries_limit, HistoryBound.of(sampler))
        self.errors = ErrorLog()
        self.responses = ResponseCache()
        self._sizes: tuple[Snapshot, ListSizes] | None = None
        self._running: set[RequestBudget] = set()
        self.costly = Lane(COSTLY_AT_ONCE, wait=1.0)
        self.test_runs = Lane(TEST_RUNS_AT_ONCE, wait=0.5)

    def list_sizes(self, snapshot: Snapshot) -> ListSizes:
        """The list sizes of a snapshot, computed once per snapshot."""
        known = self._sizes
        if known is not None and known[0] is snapshot:
            return known[1]
        sizes = ListSizes.of(snapshot, possible_cpus())
        self._sizes = (snapshot, sizes)
        return sizes

    def cancel_all(self, reason: str) -> None:
        """Stop every request being executed (the server is shutting down). Safe to call from
        a signal handler: it only sets flags."""
        for budget in list(self._running):
            budget.cancel(reason, 503)

    def execute(
        self,
        data: dict[str, Any],
        queries_only: bool,
        snapshot: Snapshot | None = None,
        document: DocumentNode | None = None,
        budget: RequestBudget | None = None,
    ) -> dict[str, Any]:
        """Run one operation synchronously (called in a worker thread); errors are logged
        through ErrorLog. QueryAborted goes through to the caller."""
        ctx = RequestContext(
            self.settings, self.inventory, self.pager, snapshot, budget, sampler=self.sampler,
            test_runs=self.test_runs,
        )  # fmt: skip
        seen: list[GraphQLError] = []

        def keep(error: GraphQLError, _debug: bool = False) -> dict[str, Any]:
            seen.append(error)
            return dict(error.formatted)

        _, result = graphql_sync(
            self.schema,
            data,
            context_value=ctx,
            query_document=document,
            require_query=queries_only,
            debug=False,
            logger=_ARIADNE_LOG,
            error_formatter=keep,
        )
        self.errors.graphql(seen)
        return result

    def check(
        self, data: dict[str, Any], queries_only: bool, snapshot: Snapshot
    ) -> tuple[DocumentNode, OperationDefinitionNode | None, int]:
        """Parse and measure before anything runs (document, operation, measured cost);
        Refusal for what must not run."""
        try:
            document = parse_query(data["query"])
        except GraphQLError as exc:
            raise Refusal(400, exc.message) from None
        operation = select_operation(document, data.get("operationName"))
        if operation is None:
            return document, None, 0  # graphql-core says what is wrong with the request
        if queries_only and operation.operation == OperationType.MUTATION:
            raise Refusal(405, "mutations are not allowed over GET: use POST")
        variables = data.get("variables")
        try:
            measure = check_cost(
                self.meter, document, operation,
                variables if isinstance(variables, dict) else None,
                self.list_sizes(snapshot),
                max_cost=self.settings.max_query_cost,
                max_depth=self.settings.max_query_depth,
            )  # fmt: skip
        except QueryRefused as exc:
            raise Refusal(400, str(exc)) from None
        return document, operation, measure.cost

    def run(
        self,
        data: dict[str, Any],
        queries_only: bool,
        snapshot: Snapshot,
        budget: RequestBudget | None,
    ) -> tuple[int, bytes]:
        """Check, then answer: from the response cache when the same operation (in any
        spacing or comments) already ran on this snapshot, else by executing it. A mutation
        runs on a fresh snapshot and clears cached answers. Costly requests take their turn
        in the lane."""
        with ExitStack() as lane:
            if len(data["query"]) > COSTLY_TEXT:
                lane.enter_context(self.costly.turn_or_busy())
            document, operation, cost = self.check(data, queries_only, snapshot)
            if operation is not None and operation.operation == OperationType.MUTATION:
                self.responses.clear()
                try:
                    return self._encoded(self.execute(data, queries_only, None, document, budget))
                finally:
                    self.responses.clear()
            printed = print_ast(document)  # spacing and comments do not count
            key = cache_key(printed, data)
            generation = 0
            if key is not None:
                cached, generation = self.responses.lookup(snapshot, key)
                if cached is not None:
                    return 200, cached
            if cost > COSTLY_COST and len(data["query"]) <= COSTLY_TEXT:
                lane.enter_context(self.costly.turn_or_busy())
            ctx = RequestContext(
                self.settings, self.inventory, self.pager, snapshot, budget, sampler=self.sampler
            )
            planned = self.fastpath.run(data, ctx, document, printed)  # None: graphql-core runs it
            if planned is None:
                result = self.execute(data, queries_only, snapshot, document, budget)
            else:
                result, errors = planned
                self.errors.graphql(errors)
        status, body = self._encoded(result)
        if key is not None and status == 200 and "errors" not in result:
            self.responses.store(snapshot, key, body, generation)
        return status, body

    def respond(
        self, data: dict[str, Any], queries_only: bool, budget: RequestBudget | None = None
    ) -> tuple[int, bytes]:
        """(HTTP status, JSON body) of one operation (see `run`); what must not run, or
        stopped running, is answered with its one-line reason."""
        try:
            return self.run(data, queries_only, self.inventory.snapshot(), budget)
        except Refusal as exc:
            self.errors.client(exc.message)
            return exc.status, _error_body(exc.message)
        except QueryAborted as exc:
            aborted = (exc.status, exc.message)
            exc.__traceback__ = None  # its frames hold what the execution built
        # What the execution built is unreachable now: give the memory back at once.
        self.errors.client(aborted[1])
        release_free_memory()
        return aborted[0], _error_body(aborted[1])

    def _encoded(self, result: dict[str, Any]) -> tuple[int, bytes]:
        """200 whenever the operation ran, even with field errors (as gqlgen answered); 400
        only when it could not run at all (syntax, validation, limits). An answer over the
        size limit is refused."""
        body = orjson.dumps(result)
        status = 200 if "data" in result else 400
        if len(body) > BIG_ANSWER:
            release_free_memory()
        limit = self.settings.max_answer_bytes
        if len(body) > limit:
            message = (f"the answer is {len(body)} bytes, more than the limit of {limit}: ask "
                       "for fewer entries (a lower `limit`) or fewer fields")  # fmt: skip
            self.errors.client(message)
            return 400, _error_body(message)
        return status, body

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "POST"):
            # HEAD arrives here too (Starlette adds it to GET routes): it must not run a body.
            response = _error("GraphQL runs over GET (queries) and POST only", 405)
            response.headers["Allow"] = "GET, POST"
            return response
        try:
            data = await self._request_data(request)
        except Refusal as exc:
            self.errors.client(exc.message)
            return _error(exc.message, exc.status)
        budget = RequestBudget(self.settings.query_timeout, self.settings.max_answer_bytes)
        self._running.add(budget)
        try:
            with cancelled_if_client_leaves(request, budget):
                status, body = await run_in_threadpool(
                    self.respond, data, request.method == "GET", budget
                )
        finally:
            self._running.discard(budget)
        return Response(body, status_code=status, media_type="application/json")

    async def _request_data(self, request: Request) -> dict[str, Any]:
        """The request's {query, variables, operationName}; Refusal says what is wrong."""
        if request.method == "GET":
            params = request.query_params
            data: Any = {"query": params.get("query")}
            if params.get("operationName"):
                data["operationName"] = params["operationName"]
            if params.get("variables"):
                data["variables"] = _json(params["variables"].encode(), "variables")
        else:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise Refusal(415, "POST /query needs Content-Type: application/json")
            try:
                body = await read_limited(request, self.settings.max_request_bytes)
            except TooLarge:
                limit = self.settings.max_request_bytes
                raise Refusal(413, f"request body is larger than {limit} bytes") from None
            except ClientDisconnect:  # gone, or dropped for sending too slowly
                raise Refusal(400, "the client left before sending its whole body") from None
            data = _json(body, "request body")
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            raise Refusal(400, "expected a JSON object with a 'query' string")
        if len(data["query"]) > self.settings.max_request_bytes:
            raise Refusal(413, "query text is too long")
        name = data.get("operationName")
        if name is not None and not isinstance(name, str):
            raise Refusal(400, "operationName must be a string")
        return data


def _json(raw: bytes, what: str) -> Any:
    """Parse JSON strictly: orjson refuses lone surrogates (which no answer could carry back)
    and nesting past 1024 levels (Python's json raised RecursionError at ~100k: a 500)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Refusal(400, f"{what} is not valid JSON: {exc}") from None


def _error_body(message: str) -> bytes:
    return orjson.dumps({"errors": [{"message": message}]})
