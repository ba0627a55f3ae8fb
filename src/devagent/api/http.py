"""GraphQL over HTTP: POST with a JSON body, GET with query parameters (queries only).

Execution runs in a worker thread (resolvers make bpf() calls and must not block the event
loop); each request gets its own RequestContext, hence one consistent snapshot.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio.to_thread
import orjson
from ariadne import graphql_sync
from graphql import GraphQLError, GraphQLSchema, OperationDefinitionNode, OperationType, parse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..bpf.errors import NotFound
from ..model.codec import CodecError
from ..model.inventory import Inventory, Snapshot
from ..model.settings import Settings
from .context import RequestContext
from .entries import EntriesError, EntryPager
from .limits import limits_rule
from .response_cache import ResponseCache, cache_key


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


LOGGER = "devagent.graphql"


class _ExpectedErrors(logging.Filter):
    """Errors the client caused (unknown id, bad paging, ...) are answers, not server faults:
    they go back in `errors` without a traceback in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, (NotFound, EntriesError, CodecError))


logging.getLogger(LOGGER).addFilter(_ExpectedErrors())


class GraphQLEndpoint:
    """The /query route."""

    def __init__(
        self, schema: GraphQLSchema, settings: Settings, inventory: Inventory, pager: EntryPager
    ) -> None:
        self.schema = schema
        self.settings = settings
        self.inventory = inventory
        self.pager = pager
        self.rules = [limits_rule(settings.max_query_depth)]
        self.responses = ResponseCache()

    def execute(
        self, data: dict[str, Any], queries_only: bool, snapshot: Snapshot | None = None
    ) -> tuple[bool, dict[str, Any]]:
        """Run one operation synchronously (called in a worker thread)."""
        ctx = RequestContext(self.settings, self.inventory, self.pager, snapshot)
        success, result = graphql_sync(
            self.schema,
            data,
            context_value=ctx,
            validation_rules=self.rules,
            require_query=queries_only,
            debug=False,
            logger=LOGGER,
        )
        return success, result

    def respond(self, data: dict[str, Any], queries_only: bool) -> tuple[int, bytes]:
        """(HTTP status, JSON body) of one operation, from the response cache when the same
        query already ran on the current snapshot (see api.response_cache)."""
        key = cache_key(data)
        snapshot = self.inventory.snapshot()
        generation = 0
        if key is not None:
            body, generation = self.responses.lookup(snapshot, key)
            if body is not None:
                return 200, body
        # A GET (queries_only) that names a mutation was refused in handle(): no parse again.
        if not queries_only and operation_type(data) == OperationType.MUTATION:
            self.responses.clear()
            try:
                _, result = self.execute(data, queries_only)
            finally:
                self.responses.clear()
            return _encoded(result)
        _, result = self.execute(data, queries_only, snapshot)
        status, body = _encoded(result)
        if key is not None and status == 200 and "errors" not in result:
            self.responses.store(snapshot, key, body, generation)
        return status, body

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "POST"):
            # HEAD arrives here too (Starlette adds it to GET routes): it must not run a body.
            response = _error("GraphQL runs over GET (queries) and POST only", 405)
            response.headers["Allow"] = "GET, POST"
            return response
        if request.method == "GET":
            params = request.query_params
            data: Any = {"query": params.get("query")}
            if params.get("operationName"):
                data["operationName"] = params["operationName"]
            if params.get("variables"):
                try:
                    data["variables"] = json.loads(params["variables"])
                except ValueError:
                    return _error("variables must be a JSON object", 400)
        else:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return _error("POST /query needs Content-Type: application/json", 415)
            try:
                body = await read_limited(request, self.settings.max_request_bytes)
            except TooLarge:
                limit = self.settings.max_request_bytes
                return _error(f"request body is larger than {limit} bytes", 413)
            try:
                data = json.loads(body)
            except ValueError:
                return _error("request body is not valid JSON", 400)
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            return _error("expected a JSON object with a 'query' string", 400)
        if len(data["query"]) > self.settings.max_request_bytes:
            return _error("query text is too long", 413)
        if request.method == "GET" and _is_mutation(data):
            return _error("mutations are not allowed over GET: use POST", 405)
        status, body = await anyio.to_thread.run_sync(self.respond, data, request.method == "GET")
        return Response(body, status_code=status, media_type="application/json")


def _encoded(result: dict[str, Any]) -> tuple[int, bytes]:
    """200 whenever the operation ran, even with field errors (as gqlgen answered); 400 only
    when it could not run at all (syntax, validation, limits)."""
    return (200 if "data" in result else 400), orjson.dumps(result)


def operation_type(data: dict[str, Any]) -> OperationType | None:
    """The type of the operation a request would run (None if the text does not parse or
    names no such operation: execution reports that)."""
    try:
        document = parse(data["query"])
    except GraphQLError:
        return None
    wanted = data.get("operationName")
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode) and (
            wanted is None or (d.name is not None and d.name.value == wanted)
        ):
            return d.operation
    return None


def _is_mutation(data: dict[str, Any]) -> bool:
    """Whether the operation a GET would run is a mutation (refused before execution)."""
    return operation_type(data) == OperationType.MUTATION
