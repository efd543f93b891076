"""Where the agent looks and acts: one Docker host, every host of a fleet, or a
Swarm.

The environment is a fleet or a Swarm when the checked-out commit has its
hosts.yaml (or the agent was given --hosts); it is read on every pass, so a commit
that adds a host takes effect like any other change in git. A fleet is observed
host by host and its report folded into one (fleet_drift.merge) for the agent's
decisions; a deploy goes host by host in batches under one lock (fleet_rollout).
A Swarm is observed through its manager's services and tasks and deployed (healed
too) with `docker stack deploy` (swarm_rollout): Swarm rolls, never Compose.
"""

from __future__ import annotations

from release import drift_cmd, fleet, fleet_rollout, rollout, swarm_rollout
from release.adapters import docker_host
from release.adapters.agent_clone import Checkout
from release.agent_config import AgentConfig
from release.errors import UsageError
from release.layout import GitopsTree
from release.swarm_env import SwarmEnv


class AgentTarget:
    def __init__(self, config: AgentConfig, project: str, checkout: Checkout):
        self.config = config
        self.env = config.env
        self.project = project
        self.checkout = checkout
        self._clients: dict[str, object] = {}  # kept across passes, by endpoint

    @property
    def gitops(self) -> GitopsTree:
        return GitopsTree(self.checkout.gitops)

    def client(self, endpoint: str = ""):
        endpoint = endpoint or self.config.host
        if endpoint not in self._clients:
            self._clients[endpoint] = docker_host.connect(endpoint or None)
        return self._clients[endpoint]

    def described(self) -> fleet.Fleet | SwarmEnv | None:
        described = fleet.find(self.gitops.root, self.env, self.config.hosts)
        if described is not None and self.config.host:
            kind = "a Swarm" if isinstance(described, SwarmEnv) else "a fleet"
            raise UsageError(
                f"--host names one Docker host, but {described.source} describes "
                f"{kind}: drop --host"
            )
        return described

    def observe(self, manifest):
        """drift_cmd.Observation of the host or the Swarm, or a FleetObservation of
        every host of a fleet."""
        described = self.described()
        if isinstance(described, SwarmEnv):
            return drift_cmd.observe_swarm(
                self.env,
                described,
                project=self.project,
                manifest=manifest,
                gitops=self.gitops,
                client=self.client(described.manager),
            )
        if described is not None:
            return drift_cmd.observe_fleet(
                self.env,
                described,
                project=self.project,
                manifest=manifest,
                gitops=self.gitops,
                clients={h.endpoint: self.client(h.endpoint) for h in described.hosts},
            )
        return drift_cmd.observe(
            self.env,
            project=self.project,
            host=self.config.host or None,
            manifest=manifest,
            gitops=self.gitops,
            client=self.client(),
        )

    def deploy(self, services, manifest, reporter):
        """rollout.deploy on the host, fleet_rollout.deploy_fleet over a fleet,
        swarm_rollout.deploy_swarm on a Swarm; raises DeployFailed like them."""
        common = dict(
            services=services,
            manifest=manifest,
            project=self.project,
            health_timeout=self.config.health_timeout,
            reporter=reporter,
            gitops=self.gitops,
        )
        described = self.described()
        if isinstance(described, SwarmEnv):
            return swarm_rollout.deploy_swarm(self.env, described, **common)
        if described is not None:
            return fleet_rollout.deploy_fleet(self.env, described, **common)
        return rollout.deploy(self.env, host=self.config.host or None, **common)


def per_host(result) -> list:
    """A fleet deploy's DeployResult per host reached, or the one host's."""
    if isinstance(result, fleet_rollout.FleetResult):
        return [r for _, r in result.hosts]
    return [result]
