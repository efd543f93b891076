"""The composition root: where the targets are handed their adapters. Every command
that deploys or looks opens its Target here, so the targets, the canary and the agent
reach a Docker host only through the HostAccess given to them."""

from __future__ import annotations

from pathlib import Path

from release.adapters.host_access import DockerHostAccess
from release.engine.access import HostAccess
from release.targets import environment
from release.targets.target import Target


def host_access() -> HostAccess:
    return DockerHostAccess()


def open_target(gitops_root: Path, env: str, hosts: str = "", host: str = "") -> Target:
    """The environment's Target (targets/environment.py), wired to Docker."""
    return environment.open_target(host_access(), gitops_root, env, hosts, host)
