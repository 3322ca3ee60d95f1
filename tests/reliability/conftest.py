"""What the bus suites share; each module defines its own `cluster` (which services run)."""

from __future__ import annotations

import pytest
from bus_cluster import BusCluster
from switchboard_shared.runtime import ServiceRuntime


@pytest.fixture(scope="module")
def producer(cluster: BusCluster) -> ServiceRuntime:
    """The publishing side, in the test process."""
    return cluster.producer()
