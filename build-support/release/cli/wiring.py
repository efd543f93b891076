"""The composition root: where the targets are handed their adapters. Every command
that deploys or looks opens its Target here, so the targets, the canary and the agent
reach a Docker host only through the HostAccess given to them."""

from __future__ import annotations

from pathlib import Path

from release.adapters.deploy_lock import DEFAULT_LEASE
from release.adapters.host_access import DockerHostAccess
from release.engine.access import HostAccess
from release.targets import environment
from release.targets.target import Target


def host_access(
    lock_lease: float = DEFAULT_LEASE, force_lock: bool = False
) -> HostAccess:
    return DockerHostAccess(lock_lease=lock_lease, force_lock=force_lock)


def open_target(
    gitops_root: Path,
    env: str,
    hosts: str = "",
    host: str = "",
    *,
    lock_lease: float = DEFAULT_LEASE,
    force_lock: bool = False,
) -> Target:
    """The environment's Target (targets/environment.py), wired to Docker; a
    deploy's lock lasts `lock_lease` seconds unrenewed, `force_lock` takes it from
    a live holder."""
    return environment.open_target(
        host_access(lock_lease, force_lock), gitops_root, env, hosts, host
    )
