"""One Docker host as a Target: the environment has no hosts.yaml; the host is the
local engine, --host, or DOCKER_HOST."""

from __future__ import annotations

from release.engine.access import HostAccess
from release.targets.host import observe as observation
from release.targets.host import rollout
from release.targets.target import Deploy, Look, Target


class HostTarget(Target):
    kind = "host"
    label = "one Docker host"

    def __init__(self, access: HostAccess, env: str, host: str = "") -> None:
        super().__init__(
            access, env, access.endpoint(host or None) or "the local engine"
        )
        self.host = host

    def deploy(self, request: Deploy):
        return rollout.deploy(
            self.access,
            self.env,
            host=self.host or None,
            parallel=request.parallel,
            **request.shared(),
        )

    def lock_host(self) -> str:
        return self.host

    def observe(self, look: Look):
        return observation.observe(
            self.access,
            self.env,
            host=self.host or None,
            client=look.client(self.host),
            **look.shared(),
        )

    def require_one_host(self, what: str) -> None:
        return None  # it is one
