"""Fixtures of the install tests: the session's kernel objects in one place."""

from __future__ import annotations

import pytest

from tests.conftest import FrozenCounters, InspectFixture, LinkFixture, PacketFixture
from tests.install.helpers import Objects


@pytest.fixture(scope="session")
def objs(
    packet_fixture: PacketFixture,
    link_fixture: LinkFixture,
    inspect_fixture: InspectFixture,
    frozen_counters: FrozenCounters,
) -> Objects:
    return Objects(packet_fixture, link_fixture, inspect_fixture, frozen_counters)
