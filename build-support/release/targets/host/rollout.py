"""`./inv deploy`: makes an environment's Docker host run its manifest without
dropping requests.

    deploy = session (lock → desired: manifest + Compose + secrets → live → plan)
             → apply: each changed service through the engine → deploy log

The steps per role are in engine/steps.py, how they touch the host in
engine/engine.py and adapters/compose_host.py. A failed health gate aborts that
service (its new containers removed, the old ones serving) and the deploy fails.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from release.base.layout import GitopsTree
from release.engine.access import HostAccess
from release.engine.apply import default_parallel
from release.engine.events import Reporter
from release.engine.results import (  # noqa: F401 (the deploy's public names)
    DeployError,
    DeployFailed,
    DeployResult,
    Outcome,
    StepFailed,
)
from release.model.manifest import Manifest
from release.targets.host.session import DeploySession, ProjectOnHost


def deploy(
    access: HostAccess,
    env: str = "local",
    *,
    services: Sequence[str] = (),
    manifest: Manifest | None = None,
    project: str = "",
    host: str | None = None,
    dry_run: bool = False,
    health_timeout: float = 120.0,
    drain_timeout: float = 30.0,
    parallel: int = 0,
    proxy_port: int | None = None,
    proxy_bind: str | None = None,
    proxy_ports: Mapping[str, int] | None = None,
    reporter: Reporter | None = None,
    gitops: GitopsTree,
) -> DeployResult:
    """Makes the Docker host run what `manifest` (default: gitops/versions/<env>.json)
    says, for the named services (default: all), and returns what it did.

    Raises DeployFailed (exit 1) when a service failed its health gate (its new
    containers removed, the old ones serving, the attempt recorded), LockError
    (exit 4) when another deploy holds the lock, other ReleaseErrors for bad input.
    With dry_run it only plans: `result.exit_code` is 3 (differs) with changes, 0
    in sync.
    `parallel`: services rolled side by side at most (1: one after another in the
    plan's order; 0: deploy/apply.default_parallel()).
    """
    target = ProjectOnHost.of(
        access,
        env,
        project,
        host,
        proxy_port=proxy_port,
        proxy_bind=proxy_bind,
        proxy_ports=tuple(sorted((proxy_ports or {}).items())),
    )
    session = DeploySession(
        target,
        access,
        manifest,
        tuple(services),
        reporter or Reporter(),
        locked=not dry_run,
        gitops=gitops,
    )
    started = time.monotonic()
    with session as s:
        s.reporter.plan(s.plan)
        result = DeployResult(
            env, target.project, target.where, s.plan, dry_run, s.started_at
        )
        if dry_run:
            result.duration = time.monotonic() - started
            return result
        remote = access.is_remote(target.host)
        load = "" if remote else access.load()
        if load and s.plan.changes:
            s.reporter.note(
                f"this host is loaded ({load}): a health check that times out here "
                "is asked again, not taken as a verdict"
            )
        lanes = parallel or default_parallel(local=not remote)
        s.roll(result, health_timeout, drain_timeout, lanes, started)
    if not result.ok:
        raise DeployFailed(result.failure(), result)
    return result
