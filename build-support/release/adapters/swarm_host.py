"""A Swarm manager: `docker stack deploy` (the CLI, which reads the stack file and
the env files it names on this machine) and the docker SDK for what runs there
(services, their UpdateStatus, their tasks). The manager is any Docker endpoint
(unix:// or ssh://); SDK and CLI errors become ReleaseErrors of one line.
"""

from __future__ import annotations

from pathlib import Path

from release.adapters import docker_host, proc
from release.base.errors import CommandError, EngineError


def deploy_command(stack_file: Path, stack: str) -> list[str]:
    """Images are pinned by digest already: the CLI must not re-resolve them (it
    would ask the registry from this machine, which the nodes may see otherwise)."""
    return [
        "docker",
        "stack",
        "deploy",
        "--compose-file",
        str(stack_file),
        "--resolve-image",
        "never",
        stack,
    ]


def stack_deploy(manager: str, stack_file: Path, stack: str) -> str:
    """Hands the stack to the manager; Swarm then rolls each changed service."""
    try:
        out = proc.run(
            deploy_command(stack_file, stack),
            env={"DOCKER_HOST": docker_host.engine_url(manager)},
            timeout=300,
        )
    except CommandError as exc:
        first = str(exc).splitlines()
        detail = first[-1] if len(first) > 1 else first[0]
        raise CommandError(f"docker stack deploy {stack} failed: {detail}") from None
    return out.stdout


def create_secrets(client, stack: str, secrets: dict[str, bytes]) -> None:
    """Creates each Swarm secret the stack file names (external) that the swarm
    lacks, through the API: the value never appears on a command line."""
    import docker

    for name, data in sorted(secrets.items()):
        try:
            client.secrets.get(name)
            continue
        except docker.errors.NotFound:
            pass
        try:
            client.secrets.create(
                name=name,
                data=data,
                labels={"com.docker.stack.namespace": stack, "io.ecotrack.key": "1"},
            )
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # made meanwhile by another deployer
                raise EngineError(
                    f"cannot create the secret {name}: {exc.explanation}"
                ) from None
        except docker.errors.DockerException as exc:
            raise EngineError(f"cannot create the secret {name}: {exc}") from None


def require_manager(client, manager: str) -> None:
    """Refuses an engine that is not a Swarm manager (one line, what to do)."""
    import docker

    try:
        swarm = client.info().get("Swarm") or {}
    except docker.errors.DockerException as exc:
        raise EngineError(f"{manager}: cannot ask the engine: {exc}") from None
    state = swarm.get("LocalNodeState") or "unknown"
    if state != "active" or not swarm.get("ControlAvailable"):
        raise EngineError(
            f"{manager} is not a Swarm manager (swarm state {state}): "
            "run `docker swarm init` there, or name a manager"
        )


# The label `docker stack deploy` puts on every service of a stack.
STACK_NAMESPACE = "com.docker.stack.namespace"


def _services(client, stack: str) -> list[dict]:
    return client.api.services(filters={"label": f"{STACK_NAMESPACE}={stack}"})


def read_stack(client, stack: str) -> tuple[list[dict], list[dict]]:
    """The stack's services and the tasks Swarm wants running, as the docker API
    describes them (targets/swarm/live.py reads them)."""
    import docker

    try:
        services = _services(client, stack)
        tasks: list[dict] = []
        for s in services:
            tasks += client.api.tasks(
                filters={"service": s["ID"], "desired-state": "running"}
            )
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot read stack {stack}: {exc}") from None
    return services, tasks


def task_error(client, task_id: str) -> str:
    """Why one task ended ("" when it cannot be read): Swarm names the task that
    made it roll back, not its error."""
    import docker

    try:
        status = client.api.inspect_task(task_id).get("Status") or {}
    except docker.errors.DockerException:
        return ""
    return status.get("Err") or ""
