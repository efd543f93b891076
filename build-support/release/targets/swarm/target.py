"""A Swarm as a Target (hosts.yaml, `target: swarm`): `docker stack deploy` on the
manager, and Swarm rolls (and rolls back) each service itself."""

from __future__ import annotations

from release.engine.access import HostAccess
from release.targets.swarm import observe as observation
from release.targets.swarm import rollout as swarm_rollout
from release.targets.swarm.env import SwarmEnv
from release.targets.target import Deploy, Look, Target


class SwarmTarget(Target):
    kind = "swarm"
    label = "a Swarm"

    def __init__(self, access: HostAccess, env: str, swarm: SwarmEnv) -> None:
        super().__init__(access, env, swarm.source)
        self.swarm = swarm

    def describe(self) -> str:
        return f"{self.source}: a Swarm managed by {self.swarm.manager}"

    def deploy(self, request: Deploy):
        return swarm_rollout.deploy_swarm(
            self.access, self.env, self.swarm, **request.shared()
        )

    def lock_host(self) -> str:
        return self.swarm.manager

    def observe(self, look: Look):
        return observation.observe_swarm(
            self.access,
            self.env,
            self.swarm,
            client=look.client(self.swarm.manager),
            **look.shared(),
        )
