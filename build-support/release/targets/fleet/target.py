"""A fleet of Docker hosts as a Target (hosts.yaml, `target: compose`): deployed
host by host in batches under one lock, observed host by host."""

from __future__ import annotations

from release.engine.access import HostAccess
from release.targets.fleet import observe as observation
from release.targets.fleet import rollout as fleet_rollout
from release.targets.fleet.hosts import Fleet
from release.targets.target import Deploy, Look, Place, Target


class FleetTarget(Target):
    kind = "fleet"
    label = "a fleet"

    def __init__(self, access: HostAccess, env: str, fleet: Fleet) -> None:
        super().__init__(access, env, fleet.source)
        self.fleet = fleet

    def describe(self) -> str:
        return f"{self.source}: a fleet of {len(self.fleet.hosts)} hosts"

    def deploy(self, request: Deploy):
        return fleet_rollout.deploy_fleet(
            self.access,
            self.env,
            self.fleet,
            parallel=request.parallel,
            **request.shared(),
        )

    def lock_host(self) -> str:
        return self.fleet.batches()[0][0].endpoint  # the rollout's first host

    def observe(self, look: Look):
        clients = None
        if look.client_for:
            clients = {h.endpoint: look.client(h.endpoint) for h in self.fleet.hosts}
        return observation.observe_fleet(
            self.access, self.env, self.fleet, clients=clients, **look.shared()
        )

    def per_host(self, result) -> list:
        return [r for _, r in result.hosts]

    def places(self) -> tuple[Place, ...]:
        return tuple(Place(h.name, h.endpoint) for h in self.fleet.hosts)

    def looks_per_host(self, looked) -> list:
        return [(Place(h.name, h.endpoint), obs) for h, obs in looked.hosts]
