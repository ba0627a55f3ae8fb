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

    from .mutations import mutation
    from .resolvers import BINDABLES

    return make_executable_schema(SCHEMA_PATH.read_text(), *BINDABLES, mutation)
