"""Where the agent looks and acts: one Docker host, or every host of a fleet.

The environment is a fleet when the checked-out commit has its hosts.yaml (or the
agent was given --hosts); it is read on every pass, so a commit that adds a host
takes effect like any other change in git. A fleet is observed host by host and
its report folded into one (fleet_drift.merge) for the agent's decisions; a deploy
goes host by host in batches under one lock (fleet_rollout).
"""

from __future__ import annotations

from release import drift_cmd, fleet, fleet_rollout, rollout
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

    def fleet(self) -> fleet.Fleet | None:
        described = fleet.find(self.gitops.root, self.env, self.config.hosts)
        if isinstance(described, SwarmEnv):
            # The agent observes and heals through the Compose path: on a Swarm it
            # would heal the manager with Compose containers. Refused every pass.
            raise UsageError(
                f"{described.source} describes a Swarm: the agent drives Compose "
                f"hosts; use ./inv drift --env {self.env} and ./inv deploy "
                f"--env {self.env}"
            )
        if described is not None and self.config.host:
            raise UsageError(
                f"--host names one Docker host, but {described.source} describes "
                "the environment's fleet: drop --host"
            )
        return described

    def observe(self, manifest):
        """drift_cmd.Observation of the host, or a FleetObservation of every host."""
        described = self.fleet()
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
        """rollout.deploy on the host, or fleet_rollout.deploy_fleet over the fleet;
        raises DeployFailed (FleetDeployFailed) like them."""
        common = dict(
            services=services,
            manifest=manifest,
            project=self.project,
            health_timeout=self.config.health_timeout,
            reporter=reporter,
            gitops=self.gitops,
        )
        described = self.fleet()
        if described is not None:
            return fleet_rollout.deploy_fleet(self.env, described, **common)
        return rollout.deploy(self.env, host=self.config.host or None, **common)


def per_host(result) -> list:
    """A fleet deploy's DeployResult per host reached, or the one host's."""
    if isinstance(result, fleet_rollout.FleetResult):
        return [r for _, r in result.hosts]
    return [result]
