"""A fleet's drift folded into one report: what the agent decides on."""

from __future__ import annotations

from release.plan.plan import IN_SYNC, OUT_OF_SYNC
from release.targets.fleet.drift import merge
from release.verify import drift
from release.verify.test_drift import box, detect, want


def test_a_service_drifted_on_one_host_is_out_of_sync_for_the_fleet():
    web1 = detect([want()], [box(1), box(2)])
    web2 = detect([want()], [box(1), box(2, health="unhealthy")])
    web3 = detect([want()], [box(1)])
    fleet = merge("prod", "p", [("web-1", web1), ("web-2", web2), ("web-3", web3)])

    assert [(f.host, f.kind) for f in fleet.findings] == [
        ("web-2", drift.UNHEALTHY),
        ("web-3", drift.MISSING),
    ]
    (s,) = fleet.services
    assert (s.sync, s.health, s.replicas, s.desired_replicas) == (
        OUT_OF_SYNC,
        "DEGRADED",
        5,
        6,
    )
    assert fleet.findings[1].describe().startswith("web-3: waste: missing_replicas")
    assert drift.repairable(fleet) == ["waste"]


def test_the_same_drift_on_another_host_is_new_drift():
    # The agent announces a drift once per fingerprint: a host must be part of it.
    one = merge("prod", "p", [("web-1", detect([want()], [box(1)]))])
    other = merge("prod", "p", [("web-2", detect([want()], [box(1)]))])
    assert one.fingerprint() != other.fingerprint()
    # A single-host report keeps the fingerprint it always had.
    alone = detect([want()], [box(1)])
    assert not alone.fingerprint().startswith("/")


def test_a_fleet_in_sync_everywhere_is_in_sync():
    reports = [(h, detect([want()], [box(1), box(2)])) for h in ("a", "b")]
    fleet = merge("prod", "p", reports)
    assert fleet.in_sync
    (s,) = fleet.services
    assert (s.sync, s.health, s.replicas, s.version) == (IN_SYNC, "HEALTHY", 4, "1.3.0")
