"""`./inv drift --env ENV [--json]`: the manifest (desired) against the host (live).

The edge around the pure drift.detect: the desired state comes from the manifest,
the Compose files and the host's secrets fingerprint exactly as the deploy resolves
them (rollout.resolve, so the config hash is the one a deploy would label), the live
state from live.snapshot, and containers outside the project that look like ours
from one more listing of the engine. Exit 0 in sync, 1 drifted.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from release import console, drift, live, rollout
from release.adapters import compose as compose_adapter
from release.errors import EngineError
from release.live import COMPOSE_PROJECT, LiveContainer, LiveState
from release.manifest import Manifest, load
from release.plan import Desired, Unit
from release.project import check_env


@contextmanager
def gitops_tree(path: Path | None) -> Iterator[Path]:
    """Points the Compose adapter at another gitops/ tree (the agent's clone of the
    repository) for the duration of the block; None keeps this checkout's."""
    previous = compose_adapter.GITOPS_DIR
    if path is not None:
        compose_adapter.GITOPS_DIR = Path(path)
    try:
        yield compose_adapter.GITOPS_DIR
    finally:
        compose_adapter.GITOPS_DIR = previous


def manifest_path(env: str, gitops_dir: Path | None = None) -> Path:
    return Path(gitops_dir or compose_adapter.GITOPS_DIR) / "versions" / f"{env}.json"


@dataclass(frozen=True)
class Observation:
    """Everything one look at the host gives: the report and what it was built from."""

    report: drift.DriftReport
    manifest: Manifest
    desired: dict[str, Desired]
    units: tuple[Unit, ...]
    state: LiveState
    foreign: tuple[LiveContainer, ...]


def foreign_containers(
    client, project: str, desired: dict[str, Desired]
) -> list[LiveContainer]:
    """Running containers outside the Compose project that matter to it (on its
    network, or from one of the manifest's images). Containers of other Compose
    projects off our network are other environments: not ours to judge."""
    import docker

    try:
        networks = {
            n["Name"]
            for n in client.api.networks(
                filters={"label": [f"{COMPOSE_PROJECT}={project}"]}
            )
        }
        found = []
        for summary in client.api.containers(all=False):
            labels = summary.get("Labels") or {}
            if labels.get(COMPOSE_PROJECT) == project:
                continue
            joined = set((summary.get("NetworkSettings") or {}).get("Networks") or {})
            on_network = bool(joined & networks)
            if not on_network and COMPOSE_PROJECT in labels:
                continue
            try:
                attrs = client.api.inspect_container(summary["Id"])
                image = client.api.inspect_image(attrs.get("Image", ""))
            except docker.errors.NotFound:
                continue
            c = live.parse_container(attrs, image.get("RepoDigests") or [])
            if drift.looks_ours(c, on_network, desired):
                found.append(c)
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot list containers: {exc}") from None
    return sorted(found, key=lambda c: c.name)


def observe(
    env: str,
    *,
    project: str = "",
    host: str | None = None,
    manifest: Manifest | None = None,
    gitops_dir: Path | None = None,
    client=None,
) -> Observation:
    check_env(env)
    project = project or f"ecotrack-{env}"
    with gitops_tree(gitops_dir):
        if manifest is None:
            manifest = load(manifest_path(env), env)
        units = rollout.read_units(env)
        client = client or live.docker_client(host or None)
        state = live.snapshot(client, project)
        with tempfile.TemporaryDirectory(prefix="ecotrack-drift-") as tmp:
            _, desired = rollout.resolve(
                env, project, manifest, units, state, Path(tmp), host or ""
            )
        foreign = foreign_containers(client, project, desired)
    report = drift.detect(env, project, desired, state, foreign, units)
    return Observation(report, manifest, desired, units, state, tuple(foreign))


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
    env: str, as_json: bool, project: str = "", host: str = "", manifest: str = ""
) -> int:
    loaded = load(Path(manifest), env) if manifest else None
    obs = observe(env, project=project, host=host or None, manifest=loaded)
    render(obs.report, as_json)
    return obs.report.exit_code
