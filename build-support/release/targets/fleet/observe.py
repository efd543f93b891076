"""One look at every host of a fleet for drift: each host's look
(targets/host/observe.py), and the fleet's report folded from theirs."""

from __future__ import annotations

from dataclasses import dataclass

from release.base.layout import GitopsTree
from release.engine.access import HostAccess
from release.model.desired import Unit
from release.model.manifest import Manifest
from release.targets.fleet import drift as fleet_drift
from release.targets.fleet import hosts as fleet
from release.targets.host.observe import Observation, observe
from release.verify import drift


@dataclass(frozen=True)
class FleetObservation:
    """One look at every host of a fleet: each host's observation, and the fleet's
    report folded from theirs (fleet_drift.merge) for decisions."""

    report: drift.DriftReport
    hosts: tuple[tuple[fleet.FleetHost, Observation], ...]

    @property
    def manifest(self) -> Manifest:
        return self.hosts[0][1].manifest

    @property
    def units(self) -> tuple[Unit, ...]:
        return self.hosts[0][1].units

    containers_on_this_network = False  # they are on the fleet's hosts


def observe_fleet(
    access: HostAccess,
    env: str,
    described: fleet.Fleet,
    *,
    project: str = "",
    manifest: Manifest | None = None,
    gitops: GitopsTree,
    clients: dict | None = None,
) -> FleetObservation:
    """Observes the hosts one after another (`clients`: open clients by endpoint,
    reused across passes by the agent)."""
    looks = []
    for h in described.hosts:
        client = (clients or {}).get(h.endpoint)
        obs = observe(
            access,
            env,
            project=project,
            host=h.endpoint,
            manifest=manifest,
            gitops=gitops,
            client=client,
        )
        manifest = manifest or obs.manifest  # read once, the same for every host
        looks.append((h, obs))
    first = looks[0][1].report
    report = fleet_drift.merge(
        env, first.project, [(h.name, o.report) for h, o in looks]
    )
    return FleetObservation(report, tuple(looks))
