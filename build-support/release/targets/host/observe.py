"""One look at one Docker host for drift: the desired state as a deploy resolves it
against what runs there.

The desired state comes from the manifest, the Compose files and the host's secrets
fingerprint exactly as the deploy resolves them (so the config hash is the one a
deploy would label), the live state from adapters/docker_host.py, and containers
outside the project that look like ours from one more listing of the engine. The
fleet and the Swarm look through this (targets/fleet/observe.py,
targets/swarm/observe.py); the rules are verify/drift.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

from release.base.layout import GitopsTree
from release.engine.access import HostAccess
from release.model.desired import Desired, Unit
from release.model.live import LiveContainer, LiveState
from release.model.manifest import Manifest
from release.targets.host.session import DeploySession, ProjectOnHost
from release.verify import drift


@dataclass(frozen=True)
class Observation:
    """Everything one look at the host gives: the report and what it was built from."""

    report: drift.DriftReport
    manifest: Manifest
    desired: dict[str, Desired]
    units: tuple[Unit, ...]
    state: LiveState
    foreign: tuple[LiveContainer, ...]
    on_swarm: bool = False  # the live state is a Swarm's tasks (overlay addresses)

    @property
    def hosts(self) -> tuple:
        """Per-host looks: none, this look is the one host (or the Swarm) itself."""
        return ()

    @property
    def containers_on_this_network(self) -> bool:
        """Whether the containers' addresses are this engine's bridge addresses (not
        a Swarm's overlay): what reading their /metrics from here needs."""
        return not self.on_swarm


def foreign_containers(
    access: HostAccess, client, project: str, desired: dict[str, Desired]
) -> list[LiveContainer]:
    """Running containers outside the Compose project that matter to it (on its
    network, or from one of the manifest's images). Containers of other Compose
    projects off our network are other environments: not ours to judge."""
    found = [
        c
        for c, on_network in access.running_outside(client, project)
        if drift.looks_ours(c, on_network, desired)
    ]
    return sorted(found, key=lambda c: c.name)


def observe(
    access: HostAccess,
    env: str,
    *,
    project: str = "",
    host: str | None = None,
    manifest: Manifest | None = None,
    gitops: GitopsTree,
    client=None,
) -> Observation:
    target = ProjectOnHost.of(access, env, project, host)
    session = DeploySession(
        target,
        access,
        manifest,
        locked=False,
        gitops=gitops,
        client=client,
        quiet=True,
    )
    with session as s:
        foreign = foreign_containers(access, s.client, target.project, s.desired)
    report = drift.detect(env, target.project, s.desired, s.state, foreign, s.units)
    return Observation(report, s.manifest, s.desired, s.units, s.state, tuple(foreign))
