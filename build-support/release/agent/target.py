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

from release.adapters.agent_clone import Checkout
from release.agent.config import AgentConfig
from release.base.layout import GitopsTree
from release.engine.access import HostAccess
from release.targets import environment
from release.targets.target import Deploy, Look, Target


class AgentTarget:
    def __init__(
        self, config: AgentConfig, project: str, checkout: Checkout, access: HostAccess
    ):
        self.access = access
        self.config = config
        self.env = config.env
        self.project = project
        self.checkout = checkout
        self._clients: dict[str, object] = {}  # kept across passes, by endpoint
        self._deployed: Target | None = None

    @property
    def gitops(self) -> GitopsTree:
        return GitopsTree(self.checkout.gitops)

    def client(self, endpoint: str = ""):
        endpoint = endpoint or self.config.host
        if endpoint not in self._clients:
            self._clients[endpoint] = self.access.connect(endpoint)
        return self._clients[endpoint]

    def target(self) -> Target:
        """The Target as the checked-out commit describes it (read every pass)."""
        return environment.open_target(
            self.access, self.gitops.root, self.env, self.config.hosts, self.config.host
        )

    def observe(self, manifest):
        """The target's Observation (a FleetObservation for a fleet)."""
        return self.target().observe(
            Look(
                project=self.project,
                manifest=manifest,
                gitops=self.gitops,
                client_for=self.client,
            )
        )

    def deploy(self, services, manifest, reporter):
        """The target's deploy; raises DeployFailed like it."""
        self._deployed = self.target()
        return self._deployed.deploy(
            Deploy(
                services=services,
                manifest=manifest,
                project=self.project,
                health_timeout=self.config.health_timeout,
                reporter=reporter,
                gitops=self.gitops,
            )
        )

    def per_host(self, result) -> list:
        """The last deploy's result per host it reached."""
        assert self._deployed is not None, "per_host before deploy"
        return self._deployed.per_host(result)
