"""The GraphQL API: schema-first (schema.graphqls) with Ariadne bindables.

- `http`: GraphQLEndpoint, the /query route (GET and POST, limits, response cache);
- `resolvers` and `mutations`: the read and write sides of the schema;
- `entries`: EntryPager, paging over one sorted whole-map read;
- `limits`: the cost analysis and query limits, sized by `list_sizes`;
- `context`: the per-request RequestContext (one snapshot per request).

Public name: build_schema. Imports from devagent.model and devagent.bpf only.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graphql import GraphQLSchema

SCHEMA_PATH = Path(__file__).with_name("schema.graphqls")


@cache
def build_schema() -> GraphQLSchema:
    """The executable schema (built once per process: it is immutable)."""
    from ariadne import make_executable_schema

    from .fleet_fields import FLEET_BINDABLES
    from .mutations import mutation
    from .resolvers import BINDABLES

    # schema.graphqls first; other .graphqls files extend it (fleet.graphqls: Query.fleet).
    extra = sorted(p for p in SCHEMA_PATH.parent.glob("*.graphqls") if p != SCHEMA_PATH)
    type_defs = [SCHEMA_PATH.read_text(), *(p.read_text() for p in extra)]
    return make_executable_schema(type_defs, *BINDABLES, *FLEET_BINDABLES, mutation)
