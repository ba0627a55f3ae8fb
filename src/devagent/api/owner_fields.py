"""Ariadne bindable of the `Owner` type's added fields: where the owning process runs.

Owners are passed as dicts ({pid, comm, fd}, see nodes.owner_dicts); the workload of a pid is
read once per snapshot (model.workloads), only when a query asks for one of these fields.
"""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType

from ..model.workloads import Workload
from .context import request_context

owner_type = ObjectType("Owner")


def _workload(owner: dict[str, Any], info: Any) -> Workload:
    return request_context(info).snapshot.workload(int(owner["pid"]))


@owner_type.field("cgroup")
def resolve_owner_cgroup(owner: dict[str, Any], info: Any) -> str | None:
    return _workload(owner, info).cgroup


@owner_type.field("systemdUnit")
def resolve_owner_unit(owner: dict[str, Any], info: Any) -> str | None:
    return _workload(owner, info).systemd_unit


@owner_type.field("container")
def resolve_owner_container(owner: dict[str, Any], info: Any) -> dict[str, str] | None:
    container = _workload(owner, info).container
    return None if container is None else {"id": container.id, "runtime": container.runtime}


@owner_type.field("pod")
def resolve_owner_pod(owner: dict[str, Any], info: Any) -> dict[str, str | None] | None:
    pod = _workload(owner, info).pod
    return None if pod is None else {"uid": pod.uid, "name": pod.name, "namespace": pod.namespace}
