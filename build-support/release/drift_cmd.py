"""`./inv drift --env ENV [--json]`: the manifest (desired) against the host (live).

The edge around the pure drift.detect: the desired state comes from the manifest,
the Compose files and the host's secrets fingerprint exactly as the deploy resolves
them (deploy/resolve.py, so the config hash is the one a deploy would label), the
live state from adapters/docker_host.py, and containers outside the project that
look like ours from one more listing of the engine. Exit 0 in sync, 1 drifted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from release import console, drift, fleet, fleet_drift
from release.adapters import docker_host
from release.deploy.session import DeploySession, Target
from release.desired import Desired, Unit
from release.errors import UsageError
from release.layout import GITOPS, GitopsTree, project_name
from release.live import LiveContainer, LiveState
from release.manifest import Manifest, load
from release.swarm_env import SwarmEnv


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


def foreign_containers(
    client, project: str, desired: dict[str, Desired]
) -> list[LiveContainer]:
    """Running containers outside the Compose project that matter to it (on its
    network, or from one of the manifest's images). Containers of other Compose
    projects off our network are other environments: not ours to judge."""
    found = [
        c
        for c, on_network in docker_host.running_outside(client, project)
        if drift.looks_ours(c, on_network, desired)
    ]
    return sorted(found, key=lambda c: c.name)


def observe(
    env: str,
    *,
    project: str = "",
    host: str | None = None,
    manifest: Manifest | None = None,
    gitops: GitopsTree = GITOPS,
    client=None,
) -> Observation:
    target = Target.of(env, project, host)
    session = DeploySession(
        target, manifest, locked=False, gitops=gitops, client=client, quiet=True
    )
    with session as s:
        foreign = foreign_containers(s.client, target.project, s.desired)
    report = drift.detect(env, target.project, s.desired, s.state, foreign, s.units)
    return Observation(report, s.manifest, s.desired, s.units, s.state, tuple(foreign))


@dataclass(frozen=True)
class FleetObservation:
    """One look at every host of a fleet: each host's observation, and the fleet's
    report folded from theirs (fleet_drift.merge) for decisions."""

    report: drift.DriftReport
    hosts: tuple[tuple[fleet.FleetHost, Observation], ...]

    @property
    def manifest(self) -> Manifest:
        return self.hosts[0][1].manifest

    @property
    def units(self) -> tuple[Unit, ...]:
        return self.hosts[0][1].units


def observe_fleet(
    env: str,
    described: fleet.Fleet,
    *,
    project: str = "",
    manifest: Manifest | None = None,
    gitops: GitopsTree = GITOPS,
    clients: dict | None = None,
) -> FleetObservation:
    """Observes the hosts one after another (`clients`: open clients by endpoint,
    reused across passes by the agent)."""
    looks = []
    for h in described.hosts:
        client = (clients or {}).get(h.endpoint)
        obs = observe(
            env,
            project=project,
            host=h.endpoint,
            manifest=manifest,
            gitops=gitops,
            client=client,
        )
        manifest = manifest or obs.manifest  # read once, the same for every host
        looks.append((h, obs))
    first = looks[0][1].report
    report = fleet_drift.merge(
        env, first.project, [(h.name, o.report) for h, o in looks]
    )
    return FleetObservation(report, tuple(looks))


def observe_swarm(
    env: str,
    swarm: SwarmEnv,
    *,
    project: str = "",
    manifest: Manifest | None = None,
    gitops: GitopsTree = GITOPS,
    client=None,
) -> Observation:
    """One look at a Swarm environment: the stack's tasks as the live state, and a
    paused or rolled-back update as drift of its own (swarm_live.UPDATE)."""
    import tempfile

    from release import swarm_live, swarm_session
    from release.adapters import swarm_host

    stack = project_name(env, project)
    client = client or docker_host.connect(swarm.manager)
    swarm_host.require_manager(client, swarm.manager)
    with tempfile.TemporaryDirectory(prefix="ecotrack-swarm-") as tmp:
        view = swarm_session.look(
            env, swarm, stack, client, Path(tmp), manifest=manifest, gitops=gitops
        )
    live = view.state.live
    report = drift.detect(env, stack, view.desired, live, (), view.units)
    extra = swarm_live.update_findings(view.state.services, view.desired, live)
    report = swarm_live.with_update_findings(report, extra)
    return Observation(
        report, view.manifest, view.desired, view.units, live, (), on_swarm=True
    )


def run_fleet(env, described, as_json, project, host, loaded) -> int:
    """Drift per host of the environment's fleet: exit 1 if any host drifted."""
    if host:
        raise UsageError(
            f"--host names one Docker host, but {described.source} describes the "
            "environment's fleet: drop --host (or --hosts)"
        )
    looked = observe_fleet(env, described, project=project, manifest=loaded)
    reports = [(h, obs.report) for h, obs in looked.hosts]
    if not as_json:
        for h, report in reports:
            console.info(f"host {h.name} ({h.endpoint})")
            render(report)
    if as_json:
        console.data(
            json.dumps(
                {
                    "environment": env,
                    "in_sync": all(r.in_sync for _, r in reports),
                    "hosts": [
                        {"name": h.name, "endpoint": h.endpoint, **r.to_dict()}
                        for h, r in reports
                    ],
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        console.table(
            f"fleet {env}: drift per host",
            ["host", "endpoint", "state"],
            [
                [
                    h.name,
                    h.endpoint,
                    "in sync" if r.in_sync else f"{len(r.findings)} finding(s)",
                ]
                for h, r in reports
            ],
        )
    return max((r.exit_code for _, r in reports), default=0)


def render(report: drift.DriftReport, as_json: bool = False) -> None:
    if as_json:
        console.data(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        return
    console.table(
        f"{report.environment} ({report.project}): "
        + ("in sync" if report.in_sync else f"{len(report.findings)} drift finding(s)"),
        ["service", "sync", "health", "live", "desired", "drift"],
        [
            [
                s.service,
                s.sync,
                s.health,
                f"{s.version or '-'} {drift.short_digest(s.digest) if s.digest else ''}"
                f" ×{s.replicas}",
                (
                    f"{s.desired_version} {drift.short_digest(s.desired_digest)}"
                    f" ×{s.desired_replicas}"
                    if s.desired_version
                    else "(not in the manifest)"
                ),
                ", ".join(s.kinds) or "-",
            ]
            for s in report.services
        ],
    )
    if report.findings:
        console.table(
            "findings",
            ["service", "kind", "container", "expected", "found"],
            [
                [f.service, f.kind, f.container or "-", f.expected, f.actual]
                for f in report.findings
            ],
        )


def run(
    env: str,
    as_json: bool,
    project: str = "",
    host: str = "",
    manifest: str = "",
    hosts: str = "",
) -> int:
    loaded = load(Path(manifest), env) if manifest else None
    described = fleet.find(GITOPS.root, env, hosts)
    if isinstance(described, SwarmEnv):
        if host:
            raise UsageError(
                f"--host names one Docker host, but {described.source} names the "
                "Swarm manager: drop --host (or --hosts)"
            )
        obs = observe_swarm(env, described, project=project, manifest=loaded)
        render(obs.report, as_json)
        return obs.report.exit_code
    if described is not None:
        return run_fleet(env, described, as_json, project, host, loaded)
    obs = observe(env, project=project, host=host or None, manifest=loaded)
    render(obs.report, as_json)
    return obs.report.exit_code
