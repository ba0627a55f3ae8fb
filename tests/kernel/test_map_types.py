"""Every map type this kernel can make without BTF, created for real and read from user space:
the agent's "can its entries be listed" (isLookupSupported, dumps, --etm) must agree with what
the kernel answers to BPF_MAP_LOOKUP_ELEM, and say why when it refuses."""

from __future__ import annotations

import asyncio
import errno

import httpx
import pytest

from devagent.bpf.errors import BPFError
from devagent.bpf.features import MAP_SPECS, UNAVAILABLE, Probe, probe_map_type
from devagent.bpf.maps import MapHandle, can_list, create_map, listing_refusal
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.objects import map_info
from devagent.model.inventory import Inventory
from devagent.model.settings import Settings
from devagent.web.app import create_app

# name: (key size, value size, max entries, map flags) of every type made without BTF: the
# specs the agent's feature probe creates them with.
SPECS = {name: spec for name, spec in MAP_SPECS.items() if spec is not None}


def kernel_refuses_lookup(handle: MapHandle) -> int | None:
    """The errno the kernel answers to a lookup of a zero key (None: it answers, or has no
    such key, which is an answer too)."""
    try:
        handle.lookup(bytes(handle.info.key_size))
    except BPFError as exc:
        return exc.errno
    return None


@pytest.mark.parametrize("name", list(SPECS))
def test_listing_verdict_matches_the_kernel(kernel: None, name: str) -> None:
    """Where this kernel cannot make the type (too old, or a policy refuses it), the feature
    probe says so and why, and creating one fails as it said."""
    key_size, value_size, max_entries, flags = SPECS[name]
    status, detail = probe_map_type(Probe(), name)
    inner = create_map(MAP_TYPE_IDS["Array"], 4, 4, 1) if "OfMaps" in name else None
    try:
        fd = create_map(MAP_TYPE_IDS[name], key_size, value_size, max_entries, name="t_type",
                        flags=flags, inner_map_fd=inner.fd if inner else 0)  # fmt: skip
    except BPFError as exc:
        assert status == UNAVAILABLE, (name, exc)
        said = (
            f"this kernel has no {name} maps (from ",
            f"the kernel refuses to create {name} maps (",
        )
        assert detail.startswith(said), detail
        return
    finally:
        if inner is not None:
            inner.close()
    assert status != UNAVAILABLE, (name, detail)
    with MapHandle(fd, map_info(fd)) as handle:
        refused = kernel_refuses_lookup(handle) if key_size else errno.EINVAL
        assert can_list(handle.info) == (refused is None), (name, refused)
        if refused is not None:
            reason = listing_refusal(handle.info)
            assert reason is not None and reason.startswith(f"{name} maps cannot be listed: ")
            if refused == 524:
                assert "ENOTSUPP (524)" in reason


def test_cgroup_array_is_not_lookup_supported_in_the_api(kernel: None) -> None:
    """CGroupArray said isLookupSupported: true, and every read failed with errno 524."""
    with create_map(MAP_TYPE_IDS["CGroupArray"], 4, 4, 4, name="t_cgarray") as fd:
        map_id = map_info(fd).id
        app = create_app(Settings(), Inventory(max_age=0.0))
        query = f"{{ map(id: {map_id}) {{ isLookupSupported entriesCount entries {{ key }} }} }}"

        async def ask() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
                return await c.post("/query", json={"query": query})

        answer = asyncio.run(ask()).json()
        assert answer == {
            "data": {"map": {"isLookupSupported": False, "entriesCount": 0, "entries": []}}
        }
