"""The Docker engine of one host through the docker SDK, locally or over ssh://:
a client, a snapshot of one Compose project's containers (parsed by model/live.py), one
container's health log and last log lines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace

from release.adapters import ssh_bridge
from release.base.errors import EngineError
from release.model.live import (
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    LiveContainer,
    LiveState,
    parse_container,
)


def endpoint(host: str | None = None) -> str:
    """The Docker host a command talks to: the one given, else DOCKER_HOST, else ""
    (the local engine)."""
    return host or os.environ.get("DOCKER_HOST", "")


def is_remote(host: str) -> bool:
    """Whether the engine at `host` runs on another machine (ssh:// or tcp://): its
    containers' bridge addresses and this machine's load say nothing of it."""
    return host.startswith(("ssh://", "tcp://"))


def engine_url(host: str) -> str:
    """The URL a client (the SDK, Compose, the docker CLI) uses for `host`: an ssh://
    host's bridge socket on this machine (adapters/ssh_bridge.py), else `host`."""
    if host.startswith("ssh://"):
        return ssh_bridge.bridge(host).url
    return host


def connect(host: str | None = None):
    """A docker SDK client for `host` (else DOCKER_HOST, else the local engine);
    ssh:// hosts go through the system's ssh client, like the docker CLI."""
    import docker

    base_url = endpoint(host) or None
    try:
        if base_url:
            client = docker.DockerClient(base_url=engine_url(base_url), timeout=120)
        else:
            client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # the SDK raises several unrelated types here
        where = base_url or "the local engine"
        why = str(exc)[:200]
        if base_url and base_url.startswith("ssh://"):
            why = ssh_bridge.bridge(base_url).last_error() or why
        raise EngineError(f"cannot reach the Docker engine at {where}: {why}") from None
    return client


def snapshot(client, project: str, service: str | None = None) -> LiveState:
    """Every container (running or not) of the Compose project (or of one service)."""
    import docker

    labels = [f"{COMPOSE_PROJECT}={project}"]
    if service:
        labels.append(f"{COMPOSE_SERVICE}={service}")
    try:
        containers = client.api.containers(all=True, filters={"label": labels})
        parsed = []
        digests: dict[str, list[str]] = {}
        for summary in containers:
            try:
                attrs = client.api.inspect_container(summary["Id"])
            except docker.errors.NotFound:
                continue  # removed between list and inspect
            image_id = attrs.get("Image", "")
            if image_id not in digests:
                try:
                    image = client.api.inspect_image(image_id)
                    digests[image_id] = image.get("RepoDigests") or []
                except docker.errors.NotFound:
                    digests[image_id] = []
            parsed.append(parse_container(attrs, digests[image_id]))
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot list the containers of {project}: {exc}") from None
    return LiveState(
        project, tuple(sorted(parsed, key=lambda c: (c.service, c.number, c.id)))
    )


# An unhealthy replica is asked again with this much patience before the plan calls
# it broken: Docker's 3 s timeout, 3 times in a row, is what a busy host looks like.
ANSWER_TIMEOUT = 15.0


def with_answers(
    client,
    containers: Sequence[LiveContainer],
    known: dict[str, bool] | None = None,
) -> tuple[LiveContainer, ...]:
    """`containers`, each running one that Docker calls unhealthy with whether its
    own health check passes when given ANSWER_TIMEOUT (asked side by side).
    `known`: verdicts already reached in this deploy, used instead of asking again
    and added to."""
    known = {} if known is None else known
    sick = [
        c
        for c in containers
        if c.state == "running" and c.health == "unhealthy" and c.id not in known
    ]

    def ask(c: LiveContainer) -> bool:
        return run_health_check(client, c.id, ANSWER_TIMEOUT)

    if sick:
        with ThreadPoolExecutor(max_workers=len(sick)) as pool:
            known.update(zip((c.id for c in sick), pool.map(ask, sick)))
    return tuple(
        (
            replace(c, answers=known[c.id])
            if c.health == "unhealthy" and c.id in known
            else c
        )
        for c in containers
    )


def inspect(client, container_id: str) -> LiveContainer | None:
    """One container, fresh (None once it is gone); its image digest is not read."""
    import docker

    try:
        return parse_container(client.api.inspect_container(container_id), [])
    except docker.errors.NotFound:
        return None
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot inspect container {container_id[:12]}: {exc}")


def health_log(client, container_id: str) -> str:
    """The output of the container's last health check ("" if none)."""
    import docker

    try:
        attrs = client.api.inspect_container(container_id)
    except docker.errors.DockerException:
        return ""
    log = ((attrs.get("State") or {}).get("Health") or {}).get("Log") or []
    return (log[-1].get("Output") or "").strip() if log else ""


def health_check_command(config: dict) -> list[str] | None:
    """The exec form of a container's HEALTHCHECK (Config.Healthcheck.Test), None
    when it has none."""
    test = list((config.get("Healthcheck") or {}).get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return test[1:] or None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return None


def run_health_check(client, container_id: str, patience: float = 0.0) -> bool:
    """The container's HEALTHCHECK command run once now through exec, as Docker
    runs it (the container's user): exit 0 within the check's timeout (or within
    `patience` seconds, when longer) passes."""
    import docker

    try:
        config = client.api.inspect_container(container_id).get("Config") or {}
        command = health_check_command(config)
        if command is None:
            return False
        timeout = (config.get("Healthcheck") or {}).get("Timeout") or 30 * 10**9
        timeout = max(timeout / 1e9, patience)
        exec_id = client.api.exec_create(container_id, command)["Id"]
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(client.api.exec_start, exec_id).result(timeout=timeout)
        return client.api.exec_inspect(exec_id).get("ExitCode") == 0
    except (docker.errors.DockerException, FutureTimeout):
        return False


def logs_tail(client, container_id: str, lines: int = 20) -> str:
    import docker

    try:
        out = client.api.logs(container_id, stdout=True, stderr=True, tail=lines)
    except docker.errors.DockerException:
        return ""
    return out.decode(errors="replace").rstrip()


def running_outside(client, project: str) -> list[tuple[LiveContainer, bool]]:
    """Running containers that are not the Compose project's but on one of its
    networks, or in no Compose project at all; each with whether it is on one of
    the project's networks."""
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
                continue  # another Compose project, off our network
            try:
                attrs = client.api.inspect_container(summary["Id"])
                image = client.api.inspect_image(attrs.get("Image", ""))
            except docker.errors.NotFound:
                continue
            c = parse_container(attrs, image.get("RepoDigests") or [])
            found.append((c, on_network))
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot list containers: {exc}") from None
    return found
